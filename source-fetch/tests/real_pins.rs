//! Every row of ../shared/fixtures/upstream/pins.tsv (commit and NAR sha256 of the real Xen and
//! Qubes trees, as Guix's `git-fetch` hashes a checkout) reproduced by our fetch + checkout +
//! NAR hash, against the real repositories.

use std::path::{Path, PathBuf};
use std::time::Duration;

use source_fetch::{GitClient, UrlRewrites};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// The real repositories unpacked, and rewrites from their real URLs onto them.
fn real_repos() -> (tempfile::TempDir, UrlRewrites) {
    let tmp = tempfile::tempdir().unwrap();
    let mut rw = UrlRewrites::new();
    for (url, tar, dir) in [
        (
            "https://xenbits.xen.org/git-http/xen.git",
            "xen.git.tar",
            "xen.git",
        ),
        (
            "https://github.com/QubesOS/qubes-vmm-xen",
            "qubes-vmm-xen.git.tar",
            "qubes-vmm-xen.git",
        ),
    ] {
        let st = std::process::Command::new("tar")
            .arg("-xf")
            .arg(fixtures().join("git").join(tar))
            .arg("-C")
            .arg(tmp.path())
            .status()
            .unwrap();
        assert!(st.success());
        rw.push(url, format!("file://{}", tmp.path().join(dir).display()));
    }
    (tmp, rw)
}

#[test]
fn checkouts_of_the_real_tags_hash_to_the_real_pins() {
    let (_repos, rw) = real_repos();
    let cache = tempfile::tempdir().unwrap();
    let git = GitClient::new(cache.path(), rw, Duration::from_secs(120)).unwrap();
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
        rows += 1;
    }
    assert_eq!(rows, 6, "every row of pins.tsv");
    // Xen's `.gitarchive-info` is `export-subst`: a checkout keeps the placeholder that `git
    // archive` would expand (which is why an archive's NAR hash is not Guix's).
    let info = std::fs::read_to_string(out.path().join("RELEASE-4.17.6/.gitarchive-info")).unwrap();
    assert!(info.contains("$Format:"), "{info}");
}
