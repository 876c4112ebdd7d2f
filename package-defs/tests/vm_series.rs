//! The VM-side series our reader takes from Qubes' Arch recipe is the series that recipe
//! applies, for every signed v4.17* and v4.19* tag of the real QubesOS/qubes-vmm-xen. Oracle:
//! the recipe itself under bash (`prepare()`, or for the first 4.17 tags `build()` with its
//! `apply-patches` script), with a `patch` on PATH that prints its arguments instead of
//! patching; every file named must be in the tree at that tag.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use package_defs::vm_series;
use source_fetch::{verify_git_tag, GitClient, PinnedKey, UrlRewrites};
use test_servers::RealRepos;

const QUBES: &str = "https://github.com/QubesOS/qubes-vmm-xen";

fn client(real: &RealRepos, cache: &Path) -> GitClient {
    let mut rw = UrlRewrites::new();
    for (from, to) in real.rewrites() {
        rw.push(from, to);
    }
    GitClient::new(cache, rw, Duration::from_secs(120)).unwrap()
}

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
    let key =
        PinnedKey::from_file(&shipped().join("keys/0064428F455451B3EBE78A7F063938BA42CFA724.asc"))
            .unwrap();
    let mut tags: Vec<String> = git
        .ls_remote_tags(QUBES)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n.starts_with("v4.17") || n.starts_with("v4.19"))
        .collect();
    tags.sort();
    let out = tempfile::tempdir().unwrap();
    let (mut checked, mut old_shape, mut with_qubes_vm) = (0, 0, 0);
    for tag in &tags {
        let bare = git.fetch_tag(QUBES, tag, None).unwrap();
        let raw = bare.raw_tag_object(tag).unwrap();
        verify_git_tag(&raw, std::slice::from_ref(&key), tag)
            .unwrap_or_else(|e| panic!("{tag} is not signed by the Qubes key: {e}"));
        let tree = out.path().join(tag);
        bare.checkout_tree(&bare.resolve_tag(tag).unwrap(), &tree)
            .unwrap();
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
    let spec = package_defs::spec::read_tree(&tree).unwrap();
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
