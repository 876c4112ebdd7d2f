//! Every row of ../shared/fixtures/upstream/pins.tsv (commit and NAR sha256 of the real Xen and
//! Qubes trees, as Guix's `git-fetch` hashes a checkout) reproduced by our fetch + checkout +
//! NAR hash, against the real repositories served on loopback under their real URLs.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use source_fetch::{GitClient, UrlRewrites};
use test_servers::real::{shared_dir, RealRepos};

fn fixtures() -> PathBuf {
    shared_dir().join("fixtures")
}

fn client(real: &RealRepos, cache: &std::path::Path) -> GitClient {
    let mut rw = UrlRewrites::new();
    for (from, to) in real.rewrites() {
        rw.push(from, to);
    }
    GitClient::new(cache, rw, Duration::from_secs(120)).unwrap()
}

#[test]
fn checkouts_of_the_real_tags_hash_to_the_real_pins() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let pins = std::fs::read_to_string(fixtures().join("upstream/pins.tsv")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut rows = 0;
    for line in pins.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let [repo, tag, commit, nar] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("pins.tsv row {line:?}")
        };
        let bare = git.fetch_tag(repo, tag, Some(commit)).unwrap();
        let dest = out.path().join(tag);
        bare.checkout_tree(commit, &dest).unwrap();
        assert_eq!(
            content_hash::nar_hash(&dest).unwrap().to_nix_base32(),
            nar,
            "{repo} {tag}"
        );
        // nix-hash agrees on the same checkout (our encoder on real trees).
        let nix = Command::new("nix-hash")
            .args(["--type", "sha256", "--base32"])
            .arg(&dest)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&nix.stdout).trim(),
            nar,
            "nix-hash {tag}"
        );
        rows += 1;
    }
    assert_eq!(rows, 6, "every row of pins.tsv");
    // Xen's `.gitarchive-info` is `export-subst`: a checkout keeps the placeholder that `git
    // archive` would expand (which is why an archive's NAR hash is not Guix's).
    let info = std::fs::read_to_string(out.path().join("RELEASE-4.17.6/.gitarchive-info")).unwrap();
    assert!(info.contains("$Format:"), "{info}");
}

/// A first fetch of a tag is shallow: the tagged commit alone, not its history (for the real
/// xenbits: about 8 MB instead of 127 MB), and it works against a shallow server.
#[test]
fn a_first_tag_fetch_is_shallow() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = client(&real, cache.path());
    let count = |dir: &std::path::Path| {
        let o = Command::new("git")
            .arg("--git-dir")
            .arg(dir)
            .args(["rev-list", "--count", "--all"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    // qubes-vmm-xen is served with its whole history; the fetch takes one commit of it.
    let bare = git
        .fetch_tag(
            "https://github.com/QubesOS/qubes-vmm-xen",
            "v4.17.6-6",
            None,
        )
        .unwrap();
    assert_eq!(count(bare.path()), "1");
    let shallow = std::fs::read_to_string(bare.path().join("shallow")).unwrap();
    assert_eq!(shallow.trim(), bare.resolve_tag("v4.17.6-6").unwrap());
    // Xen is served shallow: the tag arrives (a plain fetch would exit 0 with no tag).
    let bare = git
        .fetch_tag(
            "https://xenbits.xen.org/git-http/xen.git",
            "RELEASE-4.17.6",
            Some("8c80ec836310fb2be22b0a2437da002b6b031480"),
        )
        .unwrap();
    assert_eq!(count(bare.path()), "1");
}
