//! The data tables (configure flags, C-level defaults, guest libraries) checked against the
//! real Debian Xen 4.17 source tree and Qubes' real patch lists.
mod common;
use std::collections::BTreeSet;

use common::*;
use xen_config::c_defaults::C_DEFAULTS;
use xen_config::guest_libs::{closure, read_uselibs, GUEST_ROOTS};
use xen_config::tools_flags::{check_flags, scan_configure, FlagSet, FLAG_SETS};

#[test]
fn every_flag_name_is_one_configure_defines_except_known_stale_ones() {
    let root = debian_tree();
    let known = scan_configure(&root).expect("scan configure.ac");
    assert!(
        known.contains_key("enable-rpath") && known.contains_key("with-system-qemu"),
        "{known:?}"
    );
    assert_eq!(known["enable-rpath"].default_enabled, Some(false));
    assert_eq!(known["enable-werror"].default_enabled, Some(true));
    // m4/systemd.m4 declares it enabled or disabled depending on the host.
    assert_eq!(known["enable-systemd"].default_enabled, None);
    let unknown: BTreeSet<(String, String)> = check_flags(FLAG_SETS, &known, None)
        .into_iter()
        .filter(|w| w.kind == "unknown")
        .map(|w| (w.who, w.flag))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("Debian".to_string(), "--disable-blktap1".to_string()),
        ("Debian".to_string(), "--disable-blktap2".to_string()),
        // Qubes' Arch VM PKGBUILD.in: 4.17 has `ocamltools`, not `ocaml`, and no blktap2.
        ("Qubes VM".to_string(), "--disable-ocaml".to_string()),
        ("Qubes VM".to_string(), "--disable-blktap2".to_string()),
    ]
    .into();
    assert_eq!(unknown, expected);
}

#[test]
fn debian_column_is_what_debian_rules_passes() {
    let root = debian_tree();
    let rules = std::fs::read_to_string(root.join("debian/rules")).expect("debian/rules");
    let start = rules
        .find("./configure")
        .expect("configure call in debian/rules");
    let block: String = rules[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let flags: Vec<&str> = block
        .split_whitespace()
        .filter(|t| t.starts_with("--"))
        .collect();
    let debian = FLAG_SETS
        .iter()
        .find(|s| s.who == "Debian")
        .expect("Debian column");
    assert_eq!(flags, debian.flags);
}

#[test]
fn no_op_flags_and_default_changes_between_trees() {
    let root = debian_tree();
    let known = scan_configure(&root).expect("scan");
    let sets = [FlagSet {
        who: "test",
        source: "here",
        flags: &[
            "--enable-werror",
            "--disable-githttp",
            "--enable-rpath",
            "--bogus",
        ],
    }];
    let w = check_flags(&sets, &known, None);
    let kinds: Vec<(&str, &str)> = w.iter().map(|w| (w.flag.as_str(), w.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("--enable-werror", "no-op"),
            ("--disable-githttp", "no-op"),
            ("--bogus", "unknown")
        ]
    );
    // A newer tree where rpath became the default.
    let dir = tempfile::tempdir().expect("tempdir");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .args(["configure.ac", "tools", "m4"].iter().map(|p| root.join(p)))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(st.success());
    let tc = dir.path().join("tools/configure.ac");
    let text = std::fs::read_to_string(&tc).expect("read");
    std::fs::write(
        &tc,
        text.replace(
            "AX_ARG_DEFAULT_DISABLE([rpath]",
            "AX_ARG_DEFAULT_ENABLE([rpath]",
        ),
    )
    .expect("write");
    let newer = scan_configure(dir.path()).expect("scan newer");
    let w = check_flags(&sets, &newer, Some(&known));
    let rpath: Vec<&str> = w
        .iter()
        .filter(|w| w.flag == "--enable-rpath")
        .map(|w| w.kind)
        .collect();
    assert_eq!(rpath, ["no-op", "default-changed"]);
}

#[test]
fn c_defaults_name_real_patches_and_real_code() {
    let root = debian_tree();
    let fixtures = workspace().join("../shared/fixtures/qubes-vmm-xen");
    for c in C_DEFAULTS {
        let listed = |tag: &str, patch: &str| {
            let tsv = std::fs::read_to_string(fixtures.join(tag).join("patches.tsv"))
                .expect("patches.tsv");
            assert!(
                tsv.lines().any(|l| l.split('\t').nth(1) == Some(patch)),
                "{patch} not in {tag}/patches.tsv"
            );
        };
        for (tag, patch) in c.patches {
            listed(tag, patch);
        }
        match c.file_added_by {
            // A file only a Qubes backport adds: it must really be missing upstream.
            Some((tag, patch)) => {
                listed(tag, patch);
                assert!(
                    !root.join(c.file).exists(),
                    "{} exists in upstream 4.17, so no patch needs to add it",
                    c.file
                );
            }
            None => {
                let src = std::fs::read_to_string(root.join(c.file))
                    .unwrap_or_else(|e| panic!("{}: {e}", c.file));
                assert!(
                    src.contains(c.identifier),
                    "{} has no {}",
                    c.file,
                    c.identifier
                );
            }
        }
    }
    let gt = std::fs::read_to_string(root.join("xen/common/grant_table.c")).expect("grant_table.c");
    assert!(
        gt.contains("#define GNTTAB_MAX_VERSION 2")
            && gt.contains("opt_gnttab_max_version = GNTTAB_MAX_VERSION")
    );
}

#[test]
fn guest_library_closure_follows_uselibs() {
    let root = debian_tree();
    let deps = read_uselibs(&root).expect("uselibs.mk");
    let all = closure(&deps, GUEST_ROOTS).expect("closure");
    let expected: BTreeSet<String> = [
        "vchan",
        "ctrl",
        "store",
        "gnttab",
        "evtchn",
        "toollog",
        "toolcore",
        "call",
        "foreignmemory",
        "devicemodel",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(all, expected);
    let vchan = closure(&deps, &["vchan"]).expect("closure");
    assert!(
        !vchan.contains("ctrl") && vchan.contains("store") && vchan.contains("toolcore"),
        "{vchan:?}"
    );
    assert!(closure(&deps, &["nosuchlib"])
        .unwrap_err()
        .contains("nosuchlib"));
}
