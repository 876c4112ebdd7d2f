//! Git operations against a real `git http-backend` on loopback, with tags signed by real gpg.

use std::time::Duration;

use content_hash::nar_hash;
use source_fetch::{verify_git_tag, GitClient, GitError, PgpError, PinnedKey, UrlRewrites};
use test_servers::{Fault, GitServer, GpgKey, HttpServer};

const UPSTREAM: &str = "https://github.com/QubesOS/qubes-vmm-xen";

struct World {
    http: HttpServer,
    _git: GitServer,
    key: GpgKey,
    client: GitClient,
    _cache: tempfile::TempDir,
    first: String,
    second: String,
}

fn world() -> World {
    let http = HttpServer::start().unwrap();
    let git = GitServer::mount(&http).unwrap();
    let key = GpgKey::generate("Qubes Tagger <tagger@example.org>", "ed25519").unwrap();
    let repo = git.create_repo("qubes-vmm-xen").unwrap();
    repo.write("version", "4.17.4\n").unwrap();
    repo.write("rel", "4\n").unwrap();
    repo.write("xen.spec.in", "Patch0500: xsa-1.patch\n")
        .unwrap();
    let first = repo.commit_all("4.17.4-4").unwrap();
    repo.tag("v4.17.4-4", Some(&key)).unwrap();
    repo.write("rel", "5\n").unwrap();
    // git orders a tree as if `x` were `x/` (after `x-y`, `x.z`); NAR orders by plain bytes.
    repo.write("x/y", "in dir\n").unwrap();
    repo.write("x-y", "dash\n").unwrap();
    repo.write("x.z", "dot\n").unwrap();
    // A checkout ignores what only `git archive` honours (Xen has `export-subst`).
    repo.write(
        ".gitattributes",
        "subst export-subst\nignored export-ignore\n",
    )
    .unwrap();
    repo.write("subst", "$Format:%H$\n").unwrap();
    repo.write("ignored", "kept in a checkout\n").unwrap();
    repo.write("ünïcødé/tool.sh", "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        repo.work_tree().join("ünïcødé/tool.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../version", repo.work_tree().join("ünïcødé/version-link"))
        .unwrap();
    let second = repo.commit_all("4.17.4-5").unwrap();
    repo.tag("v4.17.4-5", Some(&key)).unwrap();
    repo.tag("v4.17.4-6-unsigned", None).unwrap();
    repo.lightweight_tag("light").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut rw = UrlRewrites::new();
    rw.push(
        "https://github.com/QubesOS/",
        format!("{}/git/", http.base_url()),
    );
    let client = GitClient::new(cache.path(), rw, Duration::from_secs(20)).unwrap();
    World {
        http,
        _git: git,
        key,
        client,
        _cache: cache,
        first,
        second,
    }
}

#[test]
fn ls_remote_fetch_resolve_read_verify_export() {
    let w = world();
    let tags = w.client.ls_remote_tags(UPSTREAM).unwrap();
    let t5 = tags.iter().find(|t| t.name == "v4.17.4-5").unwrap();
    assert_eq!(t5.commit(), w.second);
    assert!(t5.peeled.is_some(), "annotated tags are peeled");
    assert_eq!(
        tags.iter()
            .find(|t| t.name == "v4.17.4-4")
            .unwrap()
            .commit(),
        w.first
    );

    let repo = w
        .client
        .fetch_tag(UPSTREAM, "v4.17.4-5", Some(&w.second))
        .unwrap();
    assert_eq!(repo.resolve_tag("v4.17.4-5").unwrap(), w.second);
    // A first fetch is shallow: the tagged commit, none of its history.
    assert!(repo.path().join("shallow").is_file());
    let parent = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo.path())
        .args(["cat-file", "-e", &w.first])
        .status()
        .unwrap();
    assert!(!parent.success(), "the parent commit was fetched too");
    assert_eq!(repo.read_blob(&w.second, "rel").unwrap(), b"5\n");
    assert_eq!(repo.read_blob("v4.17.4-5", "version").unwrap(), b"4.17.4\n");
    let e = repo.read_blob(&w.second, "missing-file").unwrap_err();
    assert!(e.to_string().contains("missing-file"), "{e}");

    let raw = repo.raw_tag_object("v4.17.4-5").unwrap();
    let pinned = PinnedKey::from_armored(&w.key.armored_public_key().unwrap(), "test key").unwrap();
    let v = verify_git_tag(&raw, std::slice::from_ref(&pinned), "tag v4.17.4-5").unwrap();
    assert_eq!(v.primary_fingerprint, w.key.fingerprint());

    // Our checkout equals a real `git clone`, by NAR hash (nix-hash is the oracle).
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("export");
    repo.checkout_tree(&w.second, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("subst")).unwrap(),
        "$Format:%H$\n"
    );
    assert!(dest.join("ignored").is_file());
    assert!(std::fs::read_link(dest.join("ünïcødé/version-link")).is_ok());
    let checkout = out.path().join("checkout");
    let st = std::process::Command::new("git")
        .args([
            "-c",
            "advice.detachedHead=false",
            "clone",
            "--quiet",
            "--branch",
            "v4.17.4-5",
        ])
        .arg(repo.url())
        .arg(&checkout)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(checkout.join(".git")).unwrap();
    let nix = std::process::Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(&checkout)
        .output()
        .unwrap();
    let nix = String::from_utf8(nix.stdout).unwrap();
    assert_eq!(nar_hash(&dest).unwrap().to_nix_base32(), nix.trim());
    // Only the tree: the temporary index is gone and never was in the tree.
    let leftovers: Vec<_> = std::fs::read_dir(repo.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("checkout-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A folder that cannot be made, or a commit that is not there: one clear error each.
    let file = out.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let e = repo.checkout_tree(&w.second, &file.join("x")).unwrap_err();
    assert!(
        matches!(e, GitError::Checkout { .. }) && e.to_string().contains("a-file/x"),
        "{e}"
    );
    let e = repo.checkout_tree(&w.second, &dest).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    let e = repo
        .checkout_tree(&"0".repeat(40), &out.path().join("none"))
        .unwrap_err();
    assert!(e.to_string().contains(&"0".repeat(40)), "{e}");

    // Cached: a second fetch of the same pinned tag does no network I/O.
    let before = w.http.request_count();
    let again = w
        .client
        .fetch_tag(UPSTREAM, "v4.17.4-5", Some(&w.second))
        .unwrap();
    assert_eq!(again.resolve_tag("v4.17.4-5").unwrap(), w.second);
    assert_eq!(
        w.http.request_count(),
        before,
        "cached tag fetch must not touch the network"
    );
}

#[test]
fn missing_tag_unsigned_tag_lightweight_tag_and_moved_tag() {
    let w = world();
    let e = w.client.fetch_tag(UPSTREAM, "v9.9.9-1", None).unwrap_err();
    assert!(matches!(e, GitError::NoSuchTag { .. }), "{e}");
    assert!(
        e.to_string().contains("v9.9.9-1") && e.to_string().contains("/git/qubes-vmm-xen"),
        "{e}"
    );

    let pinned = PinnedKey::from_armored(&w.key.armored_public_key().unwrap(), "k").unwrap();
    let repo = w
        .client
        .fetch_tag(UPSTREAM, "v4.17.4-6-unsigned", None)
        .unwrap();
    let raw = repo.raw_tag_object("v4.17.4-6-unsigned").unwrap();
    let e = verify_git_tag(&raw, &[pinned], "tag v4.17.4-6-unsigned").unwrap_err();
    assert!(matches!(e, PgpError::MissingSignature { .. }), "{e}");

    let repo = w.client.fetch_tag(UPSTREAM, "light", None).unwrap();
    let e = repo.raw_tag_object("light").unwrap_err();
    assert!(matches!(e, GitError::NotAnnotated { .. }), "{e}");

    let e = w
        .client
        .fetch_tag(UPSTREAM, "v4.17.4-4", Some(&w.second))
        .unwrap_err();
    assert!(
        matches!(e, GitError::TagMoved { .. }) && e.to_string().contains(&w.first),
        "{e}"
    );
}

#[test]
fn git_server_faults_give_one_clear_error_then_rerun_succeeds() {
    let w = world();
    w.http
        .inject("/git/qubes-vmm-xen/info/refs", Fault::ServerError, 1);
    let e = w.client.fetch_tag(UPSTREAM, "v4.17.4-5", None).unwrap_err();
    assert!(
        e.to_string().contains("500") && e.to_string().contains("qubes-vmm-xen"),
        "{e}"
    );
    w.client.fetch_tag(UPSTREAM, "v4.17.4-5", None).unwrap();

    // A stalled server: the git subprocess is stopped at its timeout.
    let mut rw = UrlRewrites::new();
    rw.push(
        "https://github.com/QubesOS/",
        format!("{}/git/", w.http.base_url()),
    );
    let cache = tempfile::tempdir().unwrap();
    let quick = GitClient::new(cache.path(), rw, Duration::from_secs(2)).unwrap();
    w.http.inject(
        "/git/qubes-vmm-xen/info/refs",
        Fault::Stall(Duration::from_secs(6)),
        1,
    );
    let e = quick.ls_remote_tags(UPSTREAM).unwrap_err();
    assert!(matches!(e, GitError::Timeout { .. }), "{e}");
    assert!(quick.ls_remote_tags(UPSTREAM).unwrap().len() >= 3);
}

#[test]
fn fetch_commit_pins_a_commit_of_any_branch() {
    let w = world();
    let repo = w.client.fetch_commit(UPSTREAM, &w.first).unwrap();
    assert_eq!(repo.read_blob(&w.first, "rel").unwrap(), b"4\n");
    let before = w.http.request_count();
    w.client.fetch_commit(UPSTREAM, &w.first).unwrap();
    assert_eq!(w.http.request_count(), before);
}
