//! The run lock: two bot runs never overlap.
//!
//! `File::try_lock` (flock on Linux) is released by the kernel when the holder
//! dies, even by kill -9, so a crashed run never leaves a stale lock behind.

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
}

/// Held for the whole run; released on drop or process exit.
pub struct RunLock {
    _file: File,
}

impl RunLock {
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
        // A lock this process released can still be held for a moment by a child another
        // thread is forking: the child shares the open file until its exec closes it
        // (CLOEXEC). So when the holder is this very process, give the exec a moment.
        let grace = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    file.rewind().map_err(io)?;
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim().to_string();
                    if holder == std::process::id().to_string() && std::time::Instant::now() < grace
                    {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue;
                    }
                    return Err(LockError::Held {
                        path: path.to_path_buf(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock { _file: file })
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
        RunLock::acquire(&path).expect("free again");
    }
}
