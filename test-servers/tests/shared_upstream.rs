//! Where the real repositories come from on a clone without `../shared`: upstream (here a
//! loopback server posing as it, under the real URLs), each tag verified with the pinned
//! keys, into a cache outside the tree; unreachable, one line saying what to do.

use std::path::Path;

use test_servers::real::{locate, REAL_REPOS};
use test_servers::RealRepos;

#[test]
fn without_a_shared_folder_the_tags_come_from_upstream_verified() {
    let upstream = RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("no-shared");
    let cache = tmp.path().join("cache/shared");
    let dir = locate(None, &nowhere, &cache, upstream.rewrites()).unwrap();
    assert_eq!(dir, cache);
    for (name, _) in REAL_REPOS {
        assert!(
            cache.join(format!("fixtures/git/{name}.git.tar")).is_file(),
            "{name}"
        );
    }
    // What the tests serve from it is the real thing: served again, the tags are there.
    let o = std::process::Command::new("tar")
        .arg("-tf")
        .arg(cache.join("fixtures/git/xen.git.tar"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("xen.git/refs/tags/RELEASE-4.17.6"));
    // Filled once: the next lookup does not fetch (the server is gone).
    drop(upstream);
    assert_eq!(locate(None, &nowhere, &cache, &[]).unwrap(), cache);
}

#[test]
fn a_tag_no_pinned_key_signed_is_refused_and_nothing_is_cached() {
    let upstream = RealRepos::serve().unwrap();
    // The server moves v4.17.6-6 to an unsigned tag object.
    let git = upstream.git_dir("qubes-vmm-xen");
    let run = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(&git)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let commit = run(&["rev-parse", "v4.17.6-6^{commit}"]);
    run(&[
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@example.org",
        "tag",
        "-f",
        "-a",
        "-m",
        "forged",
        "v4.17.6-6",
        commit.trim(),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache/shared");
    let e = locate(
        None,
        &tmp.path().join("no-shared"),
        &cache,
        upstream.rewrites(),
    )
    .unwrap_err();
    assert!(
        e.contains("tag v4.17.6-6 is not signed by a pinned key"),
        "{e}"
    );
    assert!(!cache.exists());
}

#[test]
fn unreachable_upstream_is_one_line_naming_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on stands for an upstream out of reach.
    let dead: Vec<(String, String)> = REAL_REPOS
        .iter()
        .map(|(_, url)| (url.to_string(), "http://127.0.0.1:9/".to_string()))
        .collect();
    let cache = tmp.path().join("cache/shared");
    let e = locate(None, &tmp.path().join("no-shared"), &cache, &dead).unwrap_err();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("set QXK_SHARED_DIR") && e.contains("no-shared does not exist"),
        "{e}"
    );
    assert!(!cache.exists());
    let e = locate(
        Some(Path::new("/nonexistent").into()),
        Path::new("/x"),
        &cache,
        &[],
    )
    .unwrap_err();
    assert!(
        e.starts_with("QXK_SHARED_DIR=/nonexistent: no fixtures/git"),
        "{e}"
    );
}
