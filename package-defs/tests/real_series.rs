//! The series our spec reader returns is the series rpm applies, for every signed v4.17* and
//! v4.19* tag of the real QubesOS/qubes-vmm-xen. Oracle: Debian's `rpmspec -P` on
//! `xen.spec.in` with `@VERSION@`, `@REL@` and `@CHANGELOG@` substituted, whose `%autosetup`
//! expansion lists one `rpmuncompress FILE | patch` command per applied patch.

mod common;
use common::qubes_tags::{self, client, QUBES};
use common::*;

use std::path::Path;
use std::process::Command;

use package_defs::defs::spec;
use test_servers::RealRepos;

/// The patch files rpm applies, in order, for the Qubes tree at `tree`.
fn rpm_series(tree: &Path, scratch: &Path) -> Vec<String> {
    let read = |f: &str| std::fs::read_to_string(tree.join(f)).unwrap();
    let spec = read("xen.spec.in")
        .replace("@VERSION@", read("version").trim())
        .replace("@REL@", read("rel").trim())
        .replace("@CHANGELOG@", "");
    let spec_path = scratch.join("xen.spec");
    std::fs::write(&spec_path, spec).unwrap();
    let out = Command::new("rpmspec")
        .arg("-P")
        .arg("--define")
        .arg(format!("_sourcedir {}", tree.display()))
        .arg(&spec_path)
        .env("HOME", scratch)
        .output()
        .expect("rpmspec (Debian package rpm) must be installed");
    assert!(
        out.status.success(),
        "rpmspec -P: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let prefix = format!("{}/", tree.display());
    lines
        .windows(2)
        .filter(|w| w[1].starts_with("/usr/bin/patch "))
        .map(|w| {
            let path = w[0]
                .split_whitespace()
                .find(|t| t.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no source path in {:?}", w[0]));
            path[prefix.len()..].to_string()
        })
        .collect()
}

#[test]
fn series_equals_rpms_autosetup_for_every_signed_tag() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let out = tempfile::tempdir().unwrap();
    let (mut checked, mut with_dead, mut mixed_case) = (0, 0, 0);
    for (tag, tree) in qubes_tags::signed_stream_trees(&git, out.path()) {
        let scratch = tempfile::tempdir().unwrap();
        let rpm = rpm_series(&tree, scratch.path());
        let ours = spec::read_tree(&tree).unwrap_or_else(|e| panic!("{tag}: {e}"));
        let files: Vec<&str> = ours.series.iter().map(|p| p.file.as_str()).collect();
        assert_eq!(files, rpm, "{tag}: series differs from rpm's %autosetup");
        // Dead patch files (in the tree, not applied) are reported, and only those.
        let mut dead: Vec<String> = std::fs::read_dir(&tree)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".patch") && !rpm.contains(n))
            .collect();
        dead.sort();
        assert_eq!(ours.unlisted, dead, "{tag}: dead patch files");
        with_dead += usize::from(!dead.is_empty());
        let spec_text = std::fs::read_to_string(tree.join(spec::SPEC_FILE)).unwrap();
        mixed_case += usize::from(spec_text.lines().any(|l| l.starts_with("PAtch")));
        checked += 1;
        std::fs::remove_dir_all(&tree).unwrap();
    }
    // 76 signed v4.17*/v4.19* tags when this was written; the repository only grows.
    assert!(checked >= 76, "only {checked} tags");
    assert!(mixed_case > 0, "no `PAtch` spelling seen: wrong fixture?");
    eprintln!("{checked} tags, {mixed_case} spell `PAtch`, {with_dead} with dead patch files");
}

#[test]
fn v4_17_6_6_applies_111_patches_as_rpm_does() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let bare = git.fetch_tag(QUBES, "v4.17.6-6", None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tree = out.path().join("tree");
    bare.checkout_tree(&bare.resolve_tag("v4.17.6-6").unwrap(), &tree)
        .unwrap();
    let ours = spec::read_tree(&tree).unwrap();
    let tsv =
        std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.6-6/patches.tsv")).unwrap();
    let expected: Vec<(u32, &str)> = tsv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c[0].parse().unwrap(), c[1])
        })
        .collect();
    let got: Vec<(u32, &str)> = ours
        .series
        .iter()
        .map(|p| (p.number, p.file.as_str()))
        .collect();
    assert_eq!(got.len(), 111);
    assert_eq!(got, expected);
    assert!(
        got.iter().any(|(n, _)| *n == 651) && got.iter().any(|(n, _)| *n == 652),
        "the two `PAtch065x:` lines"
    );
}
