//! The VM-side series our reader takes from Qubes' Arch recipe is the series that recipe
//! applies, for every signed v4.17* and v4.19* tag of the real QubesOS/qubes-vmm-xen. Oracle:
//! the recipe itself under bash (`prepare()`, or for the first 4.17 tags `build()` with its
//! `apply-patches` script), with a `patch` on PATH that prints its arguments instead of
//! patching; every file named must be in the tree at that tag.

mod common;
use common::qubes_tags::{self, client, QUBES};
use common::*;

use std::path::Path;
use std::process::Command;

use package_defs::defs::vm_series;
use test_servers::RealRepos;

/// (patch options, file) for each `patch` the recipe runs, in order.
fn recipe_series(tree: &Path, recipe: &str, scratch: &Path) -> Vec<(Vec<String>, String)> {
    let bin = scratch.join("bin");
    let src = scratch.join("src");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&src).unwrap();
    // A `patch` that reports instead of patching; the build tools after the patch loop of
    // the old recipe's build() do nothing.
    let fake = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake("patch", "echo \"PATCH $*\"");
    fake("autoreconf", ":");
    fake("make", ":");
    // Arch's /bin/sh is bash (apply-patches says `set -o pipefail` and pipes into `sh`).
    fake("sh", "exec bash \"$@\"");
    // makepkg puts the recipe's sources in $srcdir; the old recipe reads `version` and `rel`
    // from the folder it runs in.
    for f in ["apply-patches", "series-vm.conf"] {
        if let Ok(text) = std::fs::read_to_string(tree.join(f)) {
            let text = text.replacen("#!/bin/sh", "#!/bin/bash", 1);
            std::fs::write(src.join(f), text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(src.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    for f in ["version", "rel"] {
        std::fs::copy(tree.join(f), scratch.join(f)).unwrap();
    }
    let script = r#"cd "$1" || exit 9
source "$2"
mkdir -p "$pkgbase" "xen-$_upstream_pkgver"
if declare -F prepare >/dev/null; then prepare; else build; fi
exit 0"#;
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("oracle")
        .arg(scratch)
        .arg(tree.join(recipe))
        .env("srcdir", &src)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("PATCH "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "-i").expect("patch -i");
            let file = Path::new(words[i + 1]).file_name().unwrap();
            (
                words[..i].iter().map(|w| w.to_string()).collect(),
                file.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

#[test]
fn vm_series_equals_what_the_arch_recipe_applies_for_every_signed_tag() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let out = tempfile::tempdir().unwrap();
    let (mut checked, mut old_shape, mut with_qubes_vm) = (0, 0, 0);
    for (tag, tree) in qubes_tags::signed_stream_trees(&git, out.path()) {
        let ours = vm_series::read_tree(&tree).unwrap_or_else(|e| panic!("{tag}: {e}"));
        let scratch = tempfile::tempdir().unwrap();
        let oracle = recipe_series(&tree, ours.recipe.to_str().unwrap(), scratch.path());
        let files: Vec<&str> = ours.patches.iter().map(|p| p.file.as_str()).collect();
        let expected: Vec<&str> = oracle.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(files, expected, "{tag}: series differs from the recipe's");
        for (args, file) in &oracle {
            assert_eq!(&ours.patch_args, args, "{tag}: patch options for {file}");
            assert!(tree.join(file).is_file(), "{tag}: {file} not in the tree");
        }
        old_shape += usize::from(ours.recipe == Path::new(vm_series::OLD_ARCH_RECIPE));
        with_qubes_vm += usize::from(files.iter().any(|f| f.contains("xen-tools-qubes-vm")));
        checked += 1;
        std::fs::remove_dir_all(&tree).unwrap();
    }
    // 76 signed v4.17*/v4.19* tags when this was written; the repository only grows.
    assert!(checked >= 76, "only {checked} tags");
    assert!(
        old_shape > 0,
        "no tag with the old apply-patches recipe: wrong fixture?"
    );
    assert_eq!(
        with_qubes_vm, checked,
        "every VM series carries the qubes-vm tools patch"
    );
    eprintln!("{checked} tags, {old_shape} with archlinux/PKGBUILD + series-vm.conf");
}

/// At the pinned v4.17.6-6 the VM side applies 9 patches, 1020 among them, which the spec
/// (111 patches) does not list; the rest are in the spec's series too.
#[test]
fn v4_17_6_6_vm_series_is_nine_patches_one_not_in_the_spec() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let bare = git.fetch_tag(QUBES, "v4.17.6-6", None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tree = out.path().join("tree");
    bare.checkout_tree(&bare.resolve_tag("v4.17.6-6").unwrap(), &tree)
        .unwrap();
    let vm = vm_series::read_tree(&tree).unwrap();
    let spec = package_defs::defs::spec::read_tree(&tree).unwrap();
    assert_eq!(vm.patches.len(), 9);
    let not_in_spec: Vec<&str> = vm
        .patches
        .iter()
        .map(|p| p.file.as_str())
        .filter(|f| !spec.series.iter().any(|s| s.file == *f))
        .collect();
    assert_eq!(not_in_spec, ["1020-xen-tools-qubes-vm.patch"]);
    assert_eq!(
        vm.patch_args,
        ["-s", "-F0", "-E", "-p1", "--no-backup-if-mismatch"]
    );

    // A recipe naming a patch that is not in the tree is refused with its line.
    std::fs::remove_file(tree.join("1020-xen-tools-qubes-vm.patch")).unwrap();
    let e = vm_series::read_tree(&tree).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:21: names patch 1020-xen-tools-qubes-vm.patch that is not in the tree",
            tree.join("archlinux/PKGBUILD.in").display()
        )
    );
}

/// `show PACKAGE --vm-series` fetches the pinned data (signed tag, pinned commit) and prints
/// the recipe's series; for a xen package it reads that package's data.
#[test]
fn show_vm_series_of_the_shipped_packages() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let show = |dir: &Path, args: &[&str]| {
        let mut a = vec!["show"];
        a.extend_from_slice(args);
        run_rewritten(dir, cache.path(), &real.rewrite_env(), &a)
    };
    for (package, data, tag, first) in [
        (
            "xen",
            "qubes-vmm-xen-data",
            "v4.17.6-6",
            "0653-python-avoid-conflicting-_FORTIFY_SOURCE-values.patch",
        ),
        (
            "qubes-xen-next-data",
            "qubes-xen-next-data",
            "v4.19.4-9",
            "0629-python-avoid-conflicting-_FORTIFY_SOURCE-values.patch",
        ),
    ] {
        let o = show(&shipped(), &[package, "--vm-series", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            keys_of(&v),
            documented_keys("`show PACKAGE --vm-series --json`", "")
        );
        assert_eq!(v["data"], data);
        assert_eq!(v["tag"], tag);
        assert_eq!(v["recipe"], "archlinux/PKGBUILD.in");
        assert_eq!(v["listed_in"], "archlinux/PKGBUILD.in");
        let patches = v["patches"].as_array().unwrap();
        assert_eq!(patches.len(), 9, "{v}");
        assert_eq!(patches[0]["file"], first);
        assert_eq!(patches[4]["file"], "1020-xen-tools-qubes-vm.patch");
        assert_eq!(patches[4]["line"], 21);
        assert_eq!(v["patch_args"][1], "-F0");
    }
    let o = show(&shipped(), &["xen", "--vm-series"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("qubes-vmm-xen-data v4.17.6-6 (e23db720c83a525785e1af02e4983f11f20ee2bc): archlinux/PKGBUILD.in applies 9 patches with `patch -s -F0 -E -p1 --no-backup-if-mismatch`\n  1 0653-"),
        "{text}"
    );
    assert!(
        text.contains("\n  5 1020-xen-tools-qubes-vm.patch\n"),
        "{text}"
    );

    // A definition whose pinned commit is not what the signed tag names is refused.
    let (_tmp, dir) = shipped_copy();
    let f = dir.join("qubes-vmm-xen-data.toml");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        "e23db720c83a525785e1af02e4983f11f20ee2bc",
        "11439be4649658555b5e530b6f526c4e63d6ceb2",
    );
    std::fs::write(&f, text).unwrap();
    let o = show(&dir, &["xen", "--vm-series"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(
        stderr(&o).contains("tag v4.17.6-6 is commit e23db720c83a525785e1af02e4983f11f20ee2bc, but the definition pins 11439be4649658555b5e530b6f526c4e63d6ceb2"),
        "{}",
        stderr(&o)
    );
}
