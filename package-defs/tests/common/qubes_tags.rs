//! The real QubesOS/qubes-vmm-xen served on loopback: a git client for it, and every signed
//! v4.17*/v4.19* tag checked out after its signature is verified (the oracle tests' input).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use source_fetch::{verify_git_tag, GitClient, PinnedKey, UrlRewrites};
use test_servers::RealRepos;

pub const QUBES: &str = "https://github.com/QubesOS/qubes-vmm-xen";

/// A git client whose URLs go to the real repositories served on loopback.
pub fn client(real: &RealRepos, cache: &Path) -> GitClient {
    let mut rw = UrlRewrites::new();
    for (from, to) in real.rewrites() {
        rw.push(from, to);
    }
    GitClient::new(cache, rw, Duration::from_secs(120)).unwrap()
}

/// Every v4.17*/v4.19* tag, sorted, with its signature checked against the pinned Qubes key,
/// checked out under `out/<tag>`.
pub fn signed_stream_trees(git: &GitClient, out: &Path) -> Vec<(String, PathBuf)> {
    let key = PinnedKey::from_file(
        &super::shipped().join("keys/0064428F455451B3EBE78A7F063938BA42CFA724.asc"),
    )
    .unwrap();
    let mut tags: Vec<String> = git
        .ls_remote_tags(QUBES)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n.starts_with("v4.17") || n.starts_with("v4.19"))
        .collect();
    tags.sort();
    let mut trees = Vec::new();
    for tag in tags {
        let bare = git.fetch_tag(QUBES, &tag, None).unwrap();
        let raw = bare.raw_tag_object(&tag).unwrap();
        verify_git_tag(&raw, std::slice::from_ref(&key), &tag)
            .unwrap_or_else(|e| panic!("{tag} is not signed by the Qubes key: {e}"));
        let tree = out.join(&tag);
        bare.checkout_tree(&bare.resolve_tag(&tag).unwrap(), &tree)
            .unwrap();
        trees.push((tag, tree));
    }
    trees
}
