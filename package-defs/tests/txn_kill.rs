//! `kill -9` at the hook points of the atomic write leaves every definition byte-identical or
//! fully updated, and a rerun succeeds. The child is this test binary re-run on an ignored test
//! that performs the real commit, so the process really dies mid-write.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

use package_defs::defs::txn::{self, FileChange, TEST_HOOK_ENV};

const CHILD_DIR_ENV: &str = "PACKAGE_DEFS_TEST_CHILD_DIR";

fn changes(dir: &Path) -> Vec<FileChange> {
    ["xen.toml", "qubes-vmm-xen-data.toml"]
        .iter()
        .map(|n| {
            let old = std::fs::read_to_string(dir.join(n)).unwrap();
            let new = format!("{old}# rewritten by the killed writer\n");
            FileChange {
                name: n.to_string(),
                old_text: old,
                new_text: new,
            }
        })
        .collect()
}

#[test]
#[ignore = "child process of kill_9_at_every_hook_point"]
fn child_commit() {
    let dir = std::env::var(CHILD_DIR_ENV).expect("run by kill_9_at_every_hook_point");
    let dir = Path::new(&dir);
    txn::commit(dir, &changes(dir)).unwrap();
}

#[test]
fn kill_9_at_every_hook_point() {
    for (point, expect_new) in [("before-swap", false), ("after-swap", true)] {
        let (_tmp, dir) = shipped_copy();
        let old = snapshot(&dir);
        let planned = changes(&dir);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_commit",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, &dir)
            .env(TEST_HOOK_ENV, point)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        kill_at_hook(&mut child, point);

        let now = snapshot(&dir);
        if expect_new {
            assert_ne!(now, old, "{point}");
            for c in &planned {
                assert_eq!(
                    std::fs::read_to_string(dir.join(&c.name)).unwrap(),
                    c.new_text,
                    "{point}"
                );
            }
            // Keys and other packages are carried over unchanged.
            assert_eq!(now.len(), old.len());
        } else {
            assert_eq!(now, old, "{point}: must be byte-identical");
            // A rerun succeeds despite the stale staging folder.
            txn::commit(&dir, &planned).unwrap();
            for c in &planned {
                assert_eq!(
                    std::fs::read_to_string(dir.join(&c.name)).unwrap(),
                    c.new_text
                );
            }
        }
        package_defs::load_dir(&dir).unwrap();
    }
}
