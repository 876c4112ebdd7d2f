//! xen-config's program for builds in tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{stderr, workspace};

/// The workspace's `xen-config` (cargo test --workspace builds it), else built once into its
/// own target folder.
pub fn xen_config() -> PathBuf {
    let beside = Path::new(env!("CARGO_BIN_EXE_package-defs")).with_file_name("xen-config");
    if beside.is_file() {
        return beside;
    }
    let target = workspace().join("target/xen-config-for-tests");
    let o = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            "xen-config",
            "--bin",
            "xen-config",
        ])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    target.join("debug/xen-config")
}
