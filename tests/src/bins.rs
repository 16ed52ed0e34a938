//! Finds the workspace's built binaries: `$SWEEP_BIN_DIR` if set, else
//! `$CARGO_TARGET_DIR/debug`, else `target/debug` beside this crate. The
//! tests never build anything; a missing binary is a panic saying how to
//! build it.

use std::path::PathBuf;

/// Environment variable naming another folder of binaries (e.g. copies
/// kept apart from a target dir that other checkouts also build into).
pub const BIN_DIR_ENV: &str = "SWEEP_BIN_DIR";

/// The folder the debug binaries are in (`SWEEP_BIN_DIR` if set).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let target = if target.is_relative() {
        repo_root().join(target)
    } else {
        target
    };
    target.join("debug")
}

/// The path of binary `name`; panics if it has not been built.
pub fn path(name: &str) -> PathBuf {
    let p = dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first",
        p.display()
    );
    p
}

/// The repository's root (the workspace folder).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}
