//! Generates Rust code for every `.proto` file under the workspace's `proto/` folder.
//!
//! `protoc` comes from the `protoc-bin-vendored` crate, so nothing has to be installed.

use std::{env, io, path::PathBuf};

fn main() -> io::Result<()> {
    let proto_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("..")
        .join("..")
        .join("proto");
    let files = [
        "envelope.proto",
        "identify.proto",
        "kad.proto",
        "keys.proto",
        "noise.proto",
        "pubsub.proto",
        "sync_table.proto",
    ]
    .map(|f| proto_dir.join(f));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let protoc = protoc_bin_vendored::protoc_bin_path()
        .map_err(|e| io::Error::other(format!("no vendored protoc for this platform: {e}")))?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.bytes(["."]);
    config.compile_protos(&files, &[proto_dir])
}
