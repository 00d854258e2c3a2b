//! Example programs of the mycel workspace live beside this file; run one with
//! `cargo run -p mycel-examples --example <name>`.
