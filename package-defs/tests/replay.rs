//! A stale or compromised mirror replays an old release's real, validly signed tag under a
//! newer name: the real Qubes v4.17.4-5 tag object served as v4.17.6-6, the real Xen
//! RELEASE-4.17.4 tag object served as RELEASE-4.17.6 (the real repositories of
//! `../shared/fixtures/git/` on loopback under their real URLs). `update xen 4.17.6-6` refuses
//! each with one error line, the definitions stay byte-identical and nothing new appears in
//! the user's tree; with the true tags back, the same command (same cache) succeeds.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

use test_servers::RealRepos;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Points `refs/tags/<as_name>` of the served repository at the tag object of `real`;
/// returns the true object id to restore.
fn replay(repo: &Path, real: &str, as_name: &str) -> String {
    let truth = git(repo, &["rev-parse", &format!("refs/tags/{as_name}")]);
    let old = git(repo, &["rev-parse", &format!("refs/tags/{real}")]);
    git(repo, &["update-ref", &format!("refs/tags/{as_name}"), &old]);
    truth
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn replayed_signed_tags_are_refused_and_the_true_ones_pass() {
    let real = RealRepos::serve().unwrap();
    let (tmp, dir) = baseline_copy();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_rewritten(&dir, cache.path(), &real.rewrite_env(), args);
    let update = ["update", "xen", "4.17.6-6", "--skip-tarball"];
    let tree = entries(tmp.path());
    let qubes = real.git_dir("qubes-vmm-xen");
    let xen = real.git_dir("xen");

    let truth = replay(&qubes, "v4.17.4-5", "v4.17.6-6");
    fails_unchanged(
        &dir,
        "the Qubes tag replayed",
        &[
            "tag v4.17.6-6 of http",
            "the signed tag object is named `v4.17.4-5`, not `v4.17.6-6`",
        ],
        || run(&update),
    );
    assert_eq!(entries(tmp.path()), tree, "new files in the user's tree");
    git(&qubes, &["update-ref", "refs/tags/v4.17.6-6", &truth]);

    let truth = replay(&xen, "RELEASE-4.17.4", "RELEASE-4.17.6");
    fails_unchanged(
        &dir,
        "the Xen tag replayed",
        &[
            "tag RELEASE-4.17.6 of http",
            "the signed tag object is named `RELEASE-4.17.4`, not `RELEASE-4.17.6`",
        ],
        || run(&update),
    );
    assert_eq!(entries(tmp.path()), tree, "new files in the user's tree");
    git(&xen, &["update-ref", "refs/tags/RELEASE-4.17.6", &truth]);

    // The true tags, through the same cache: the refused tags were not kept.
    let o = run(&update);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(entries(tmp.path()), tree, "new files in the user's tree");
    let xen_toml = std::fs::read_to_string(dir.join("xen.toml")).unwrap();
    assert!(xen_toml.contains("RELEASE-4.17.6"), "{xen_toml}");
    // The Xen key's SHA-1 self-signatures: allowed for the pinned key, said once.
    assert_eq!(
        err.matches("self-signature(s) use SHA-1").count(),
        1,
        "{err}"
    );
}
