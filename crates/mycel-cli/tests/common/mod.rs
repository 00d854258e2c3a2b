//! What the tests that drive Node.js test peers share.

use std::{path::Path, process::Command, sync::OnceLock};

/// Whether the Node.js peer in `dir` can run: Node 20 or newer present and the
/// packages of `dir` installed (`npm ci` once if `installed`, a path under `dir`, is
/// missing). `false` (after saying why) only outside CI; under CI (`CI` set) a missing
/// peer fails the test. `ready` keeps the answer for the whole test binary.
pub(crate) fn node_peer_ready(
    ready: &'static OnceLock<Result<(), String>>,
    dir: &Path,
    installed: &str,
    what: &str,
) -> bool {
    let ready = ready.get_or_init(|| {
        let out = Command::new("node")
            .arg("--version")
            .output()
            .map_err(|e| format!("node is not installed ({e})"))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let major: u32 = version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 20 {
            return Err(format!("node {version} is older than 20"));
        }
        if !dir.join(installed).is_dir() {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run npm ci: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "npm ci failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    });
    match ready {
        Ok(()) => true,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the {what} interop tests must run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping a {what} interop test: {why}");
            false
        }
    }
}
