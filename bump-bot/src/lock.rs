//! The run lock: two bot runs never overlap.
//!
//! `File::try_lock` (flock on Linux) is released by the kernel when the holder
//! dies, even by kill -9, so a crashed run never leaves a stale lock behind. One lock is
//! taken per run, by the caller, and held from the first step to the last push: [`run`] and
//! [`publish`] take it as an argument and never lock again.
//!
//! [`run`]: crate::run()
//! [`publish`]: crate::publish()

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another bot run holds {path} (pid {holder}); runs never overlap: wait for it or stop it"
    )]
    Held { path: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the run lock held is {}, but this run's state folder is {} (a bug in the caller)", held.display(), state_dir.display())]
    Other { held: PathBuf, state_dir: PathBuf },
}

/// Held for the whole run; released on drop or process exit.
pub struct RunLock {
    _file: File,
    state_dir: PathBuf,
}

/// The lock file of a state folder.
pub const LOCK_FILE: &str = "bot.lock";

impl RunLock {
    /// Locks the run whose state lives in `state_dir` (created if needed).
    pub fn for_state(state_dir: &Path) -> Result<RunLock, LockError> {
        std::fs::create_dir_all(state_dir).map_err(|source| LockError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        Self::acquire(&state_dir.join(LOCK_FILE))
    }

    /// The state folder this lock guards.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Checks that this lock is the one of `state_dir`.
    pub fn check(&self, state_dir: &Path) -> Result<(), LockError> {
        if self.state_dir == state_dir {
            return Ok(());
        }
        Err(LockError::Other {
            held: self.state_dir.join(LOCK_FILE),
            state_dir: state_dir.to_path_buf(),
        })
    }

    /// Locks `path`; the state folder is its parent.
    pub fn acquire(path: &Path) -> Result<RunLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.rewind().map_err(io)?;
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock {
            _file: file,
            state_dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bot.lock");
        let first = RunLock::acquire(&path).unwrap();
        let err = RunLock::acquire(&path)
            .err()
            .expect("second lock must fail");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        let again = RunLock::acquire(&path).expect("free again");
        again.check(dir.path()).unwrap();
        let e = again
            .check(Path::new("/elsewhere"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/elsewhere"), "{e}");
    }
}
