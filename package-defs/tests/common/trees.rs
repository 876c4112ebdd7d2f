//! Structurally real Qubes packaging trees and upstream Xen trees, made by the tests.
#![allow(dead_code)]

use std::path::Path;

pub struct QubesSpec<'a> {
    pub version: &'a str,
    pub rel: &'a str,
    /// (number, file, contents) in spec order.
    pub series: Vec<(u32, String, String)>,
    /// Patch files in the tree that the spec does not list.
    pub dead: Vec<(String, String)>,
    pub config: String,
    pub configure: &'a str,
}

/// Writes a qubes-vmm-xen-like tree: version, rel, config, xen.spec.in, patches.
pub fn write_qubes_tree(dir: &Path, s: &QubesSpec<'_>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("version"), format!("{}\n", s.version)).unwrap();
    std::fs::write(dir.join("rel"), format!("{}\n", s.rel)).unwrap();
    std::fs::write(dir.join("config"), &s.config).unwrap();
    let mut spec = String::from("%define upstream_version @VERSION@\nName: xen\nVersion: %{upstream_version}\nRelease: @REL@%{?dist}\nSource0: https://downloads.xenproject.org/release/xen/%{version}/xen-%{version}.tar.gz\nSource1: config\n\n");
    for (n, f, body) in &s.series {
        spec += &format!("Patch{n:04}: {f}\n");
        std::fs::write(dir.join(f), body).unwrap();
    }
    spec += &format!(
        "\n%prep\n%autosetup -p1\n\n%build\n%configure \\\n  {} \n",
        s.configure
    );
    std::fs::write(dir.join("xen.spec.in"), spec).unwrap();
    for (f, body) in &s.dead {
        std::fs::write(dir.join(f), body).unwrap();
    }
    std::fs::write(dir.join("Makefile.builder"), "# not used\n").unwrap();
}

pub fn patch_text(file: &str, target: &str, line: &str) -> String {
    format!("From: test\nSubject: [PATCH] {file}\n\n--- a/{target}\n+++ b/{target}\n@@ -1,1 +1,2 @@\n base\n+{line}\n")
}

/// Writes an upstream-Xen-like tree with the files the tools read.
pub fn write_upstream_tree(dir: &Path, version: &str, abi: &str) {
    let p = dir.join("xen/include/public");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("xen-compat.h"), format!("#ifndef __XEN_PUBLIC_XEN_COMPAT_H__\n#define __XEN_PUBLIC_XEN_COMPAT_H__\n\n#define __XEN_LATEST_INTERFACE_VERSION__ {abi}\n\n#endif\n")).unwrap();
    std::fs::write(dir.join("README"), format!("Xen {version} (test tree)\n")).unwrap();
    let (major, rest) = version.split_once('.').unwrap();
    let (minor, extra) = rest.split_once('.').unwrap();
    std::fs::write(
        dir.join("xen/Makefile"),
        format!("# test tree\nexport XEN_VERSION       = {major}\nexport XEN_SUBVERSION    = {minor}\nexport XEN_EXTRAVERSION ?= .{extra}$(XEN_VENDORVERSION)\n"),
    )
    .unwrap();
    std::fs::write(dir.join("base"), "base\n").unwrap();
    std::fs::write(dir.join("configure"), "#!/bin/sh\necho configured\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("configure"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("README", dir.join("COPYING.link")).unwrap();
}

/// `nix-hash --type sha256 --base32 DIR`, the independent oracle.
pub fn nix_hash(dir: &Path) -> String {
    let o = std::process::Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A patch appending `new` after line `n` (`prev`, the file's last line): applying a chain of
/// these only works in the chain's order, so the result shows the order patches were applied.
pub fn chain_patch(file: &str, target: &str, n: usize, prev: &str, new: &str) -> String {
    format!("From: test\nSubject: [PATCH] {file}\n\n--- a/{target}\n+++ b/{target}\n@@ -{n},1 +{n},2 @@\n {prev}\n+{new}\n")
}

/// A series (number, name, added line) as chained patches on `base`, in the given order.
pub fn chain(items: &[(u32, &str, &str)]) -> Vec<(u32, String, String)> {
    let mut prev = "base".to_string();
    items
        .iter()
        .enumerate()
        .map(|(i, (n, name, line))| {
            let file = format!("{n:04}-{name}.patch");
            let body = chain_patch(name, "base", i + 1, &prev, line);
            prev = line.to_string();
            (*n, file, body)
        })
        .collect()
}
