//! All-or-nothing replacement of a definitions folder.
//!
//! Guarantee: at every instant — including after `kill -9` or a power cut at any point — the
//! folder holds either every old file or every new file, byte for byte. How: the whole folder
//! is copied to a sibling staging folder, the new files are written there and fsynced, and the
//! staging folder is swapped with the real one by one `renameat2(RENAME_EXCHANGE)`, then the
//! parent is fsynced. Leftover staging folders from an interrupted run are removed by the next
//! run. (A per-file rename sequence cannot give this guarantee without a recovery step that
//! readers would have to run first.) Concurrent updates are serialised by an advisory lock
//! (`flock`) on the folder's parent directory itself, so no lock file is left in the user's
//! tree; the definitions folder cannot carry the lock, as the swap replaces its inode.
//! Requires Linux and a filesystem with RENAME_EXCHANGE
//! (ext4, xfs, btrfs, tmpfs); otherwise the update fails before anything changes.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// One file to replace: its name inside the folder, the text it must still have, the new text.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub name: String,
    pub old_text: String,
    pub new_text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{}: another `package-defs update` of a definitions folder here holds the lock (flock on this directory); wait for it to finish", path.display())]
    Locked { path: PathBuf },
    #[error("{}: changed on disk while the update ran; nothing was written, run the update again", path.display())]
    Changed { path: PathBuf },
    #[error("{}: the filesystem cannot swap folders atomically (renameat2 RENAME_EXCHANGE: {source}); nothing was written", path.display())]
    NoExchange {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> TxnError + 'a {
    move |source| TxnError::Io {
        path: path.into(),
        what,
        source,
    }
}

/// Environment variable naming test hook points (`before-swap`, `after-swap`) at which the
/// process announces itself on stderr and pauses, so tests can `kill -9` it there. Only
/// with the `test-hooks` feature, which the tests enable: shipped binaries ignore it.
pub const TEST_HOOK_ENV: &str = "PACKAGE_DEFS_TEST_PAUSE_AT";

#[cfg(feature = "test-hooks")]
fn hook(point: &str) {
    if std::env::var(TEST_HOOK_ENV).is_ok_and(|v| v.split(',').any(|p| p == point)) {
        eprintln!("test-hook: paused at {point}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

#[cfg(not(feature = "test-hooks"))]
fn hook(_point: &str) {}

fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf, TxnError> {
    let name = dir.file_name().ok_or_else(|| TxnError::Io {
        path: dir.into(),
        what: "the definitions folder needs a name",
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{}.{suffix}", name.to_string_lossy())))
}

fn fsync_path(p: &Path) -> Result<(), TxnError> {
    File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(io(p, "fsync"))
}

/// Copies a folder of plain files and sub-folders (definitions and keys), fsyncing each.
fn copy_tree(from: &Path, to: &Path) -> Result<(), TxnError> {
    fs::create_dir(to).map_err(io(to, "create staging folder"))?;
    for e in fs::read_dir(from).map_err(io(from, "read folder"))? {
        let e = e.map_err(io(from, "read folder"))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().map_err(io(&src, "stat"))?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).map_err(io(&src, "copy"))?;
            fsync_path(&dst)?;
        } else {
            return Err(TxnError::Io {
                path: src,
                what: "only plain files and folders belong in the definitions folder",
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        }
    }
    fsync_path(to)
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let cb = CString::new(b.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not retain them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Removes staging folders an interrupted run left behind (they never hold the live state).
fn remove_stale(dir: &Path) -> Result<(), TxnError> {
    let stage = sibling(dir, "staging")?;
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(io(&stage, "remove a stale staging folder"))?;
    }
    Ok(())
}

/// Earlier versions locked with an empty `.<folder>.lock` file beside the folder and left it
/// there; it is ours, so it goes (only when empty: anything else is not ours to delete).
fn remove_legacy_lock(dir: &Path) {
    if let Ok(legacy) = sibling(dir, "lock") {
        if fs::symlink_metadata(&legacy).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = fs::remove_file(&legacy);
        }
    }
}

/// Replaces the named files of `dir` all at once (see the module docs for the guarantee).
pub fn commit(dir: &Path, changes: &[FileChange]) -> Result<(), TxnError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let lock = File::open(parent).map_err(io(parent, "open for locking"))?;
    // SAFETY: flock on an fd we own; released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(TxnError::Locked {
            path: parent.into(),
        });
    }
    remove_stale(dir)?;
    remove_legacy_lock(dir);
    let stage = sibling(dir, "staging")?;
    copy_tree(dir, &stage)?;
    let result = (|| {
        for c in changes {
            let live = dir.join(&c.name);
            let now = fs::read_to_string(&live).map_err(io(&live, "read"))?;
            if now != c.old_text {
                return Err(TxnError::Changed { path: live });
            }
            let p = stage.join(&c.name);
            let mut f = File::create(&p).map_err(io(&p, "write"))?;
            f.write_all(c.new_text.as_bytes())
                .map_err(io(&p, "write"))?;
            f.sync_all().map_err(io(&p, "fsync"))?;
        }
        fsync_path(&stage)?;
        hook("before-swap");
        exchange(&stage, dir).map_err(|source| TxnError::NoExchange {
            path: dir.into(),
            source,
        })?;
        fsync_path(parent)?;
        hook("after-swap");
        Ok(())
    })();
    // After a swap `stage` holds the old files; before it, the unused new ones.
    let _ = fs::remove_dir_all(&stage);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_all_files_and_keeps_others() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("defs");
        fs::create_dir_all(dir.join("keys")).unwrap();
        fs::write(dir.join("a.toml"), "a1").unwrap();
        fs::write(dir.join("b.toml"), "b1").unwrap();
        fs::write(dir.join("keys/k.asc"), "key").unwrap();
        let ch = |n: &str, o: &str, w: &str| FileChange {
            name: n.into(),
            old_text: o.into(),
            new_text: w.into(),
        };
        // An empty lock file an earlier version left beside the folder is cleaned up.
        fs::write(tmp.path().join(".defs.lock"), "").unwrap();
        commit(&dir, &[ch("a.toml", "a1", "a2"), ch("b.toml", "b1", "b2")]).unwrap();
        assert_eq!(fs::read_to_string(dir.join("a.toml")).unwrap(), "a2");
        assert_eq!(fs::read_to_string(dir.join("b.toml")).unwrap(), "b2");
        assert_eq!(fs::read_to_string(dir.join("keys/k.asc")).unwrap(), "key");
        assert!(!sibling(&dir, "staging").unwrap().exists());
        // Nothing is left beside the folder (no lock file in the user's tree).
        let beside: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside, ["defs"]);

        // A second update while one holds the lock is refused, changing nothing.
        let held = File::open(tmp.path()).unwrap();
        assert_eq!(
            unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
        let e = commit(&dir, &[ch("a.toml", "a2", "a9")]).unwrap_err();
        assert!(matches!(e, TxnError::Locked { .. }), "{e}");
        assert_eq!(fs::read_to_string(dir.join("a.toml")).unwrap(), "a2");
        drop(held);

        // A concurrent edit of one file aborts everything.
        let e = commit(
            &dir,
            &[ch("a.toml", "a2", "a3"), ch("b.toml", "stale", "b3")],
        )
        .unwrap_err();
        assert!(matches!(e, TxnError::Changed { .. }), "{e}");
        assert_eq!(fs::read_to_string(dir.join("a.toml")).unwrap(), "a2");
    }
}
