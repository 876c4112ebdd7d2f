//! Shared helpers for the integration tests: a small root tree and real tool invocations.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Owner given to the test tree when the tests run as root, so forcing owners to 0 is tested
/// for real (as a normal user the tree is owned by that user anyway).
pub const FOREIGN_UID: u32 = 1234;
pub const FOREIGN_GID: u32 = 70000;

/// Makes a small root tree with an init, a private file, a binary-ish blob and a symlink.
pub fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("tree");
    for d in ["sbin", "etc", "usr/bin", "var/empty"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(
        tree.join("sbin/init"),
        "#!/bin/sh\nexec /usr/bin/xs read name\n",
    )
    .unwrap();
    std::fs::set_permissions(
        tree.join("sbin/init"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(tree.join("etc/motd"), "hello from the template\n").unwrap();
    std::fs::set_permissions(
        tree.join("etc/motd"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let blob: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(tree.join("usr/bin/blob"), &blob).unwrap();
    std::os::unix::fs::symlink("../usr/bin/blob", tree.join("sbin/blob-link")).unwrap();
    if unsafe_is_root() {
        for e in walk(&tree) {
            std::os::unix::fs::lchown(&e, Some(FOREIGN_UID), Some(FOREIGN_GID)).unwrap();
        }
    }
    tree
}

pub fn unsafe_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs a tool, asserts success, returns stdout (stderr appended for debugfs-like tools).
pub fn tool(cmd: &mut Command) -> String {
    let out = cmd.env("LC_ALL", "C").env("TZ", "UTC").output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `debugfs -R CMD` on the filesystem at `offset` in `image`.
pub fn debugfs(image: &Path, offset: u64, request: &str) -> String {
    tool(
        Command::new("debugfs")
            .arg("-R")
            .arg(request)
            .arg(format!("{}?offset={offset}", image.display())),
    )
}

/// Lists the entries of a directory (to prove failed builds leave nothing behind).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Compares two output directories file by file.
pub fn assert_same_dirs(a: &Path, b: &Path) {
    assert_eq!(entries(a), entries(b));
    for name in entries(a) {
        let x = std::fs::read(a.join(&name)).unwrap();
        let y = std::fs::read(b.join(&name)).unwrap();
        assert!(x == y, "{name} differs between two builds");
    }
}
