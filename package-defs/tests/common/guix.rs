//! Real Guix 1.5.0 for tests: Debian's `guix` in a Debian unstable chroot
//! (`scripts/guix-chroot.sh`, cached outside the tree), with a daemon started and stopped
//! around each script by `scripts/guix-run.sh` (private mount and PID namespaces).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::workspace;

/// Says why the Guix checks are skipped where CI's log shows it: straight to the process's
/// stderr, past libtest's capture (which hides `eprintln!` of a passing test).
fn loud_skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why} ***\n");
}

/// A Guix chroot and a scratch folder inside it.
pub struct Guix {
    pub root: PathBuf,
    pub work: tempfile::TempDir,
}

impl Guix {
    /// The chroot, made on first use; `None` (after saying why, loudly) when this machine
    /// cannot have one: not root, or Debian no longer serves `guix`.
    pub fn get() -> Option<Guix> {
        // `id -u` rather than libc: the tests do not link it otherwise.
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            loud_skip("the real-Guix checks need root (debootstrap, chroot, guix-daemon)");
            return None;
        }
        let o = Command::new(workspace().join("scripts/guix-chroot.sh"))
            .output()
            .expect("scripts/guix-chroot.sh runs");
        if o.status.code() == Some(3) {
            loud_skip(String::from_utf8_lossy(&o.stderr).trim());
            return None;
        }
        assert!(
            o.status.success(),
            "scripts/guix-chroot.sh failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let root = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        let work = tempfile::Builder::new()
            .prefix("qxk-test-")
            .tempdir_in(root.join("tmp"))
            .unwrap();
        Some(Guix { root, work })
    }

    /// `path` under the scratch folder, as the host sees it.
    pub fn host(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    /// `path` under the scratch folder, as seen inside the chroot.
    pub fn inside(&self, rel: &str) -> String {
        let name = self.work.path().file_name().unwrap().to_string_lossy();
        if rel.is_empty() {
            format!("/tmp/{name}")
        } else {
            format!("/tmp/{name}/{rel}")
        }
    }

    /// Runs a bash script inside the chroot with a guix-daemon serving it.
    pub fn run(&self, script: &str) -> Output {
        let name = format!("script-{}.sh", std::process::id());
        std::fs::write(self.work.path().join(&name), script).unwrap();
        Command::new(workspace().join("scripts/guix-run.sh"))
            .arg(&self.root)
            .arg(self.inside(&name))
            .output()
            .expect("scripts/guix-run.sh runs")
    }

    /// Copies a host folder into the scratch folder; returns its path inside the chroot.
    pub fn copy_in(&self, from: &Path, rel: &str) -> String {
        let status = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(self.host(rel))
            .status()
            .unwrap();
        assert!(status.success());
        self.inside(rel)
    }
}
