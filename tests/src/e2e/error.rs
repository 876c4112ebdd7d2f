//! Errors of the host-side harness: each names the command, file or marker involved
//! and, where there is one, the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    #[error("`{tool}` is not installed or not runnable ({source}); fix: run scripts/setup-debian.sh (installs {package})")]
    MissingTool {
        tool: String,
        package: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}")]
    Staging { what: String },
    #[error("{binary} needs {library}, which neither the staged Xen packages nor the host provide; fix: install the Debian package that ships it (scripts/setup-debian.sh)")]
    MissingLibrary { binary: PathBuf, library: String },
    #[error("building the e2e disk image with the images crate: {0}")]
    Image(#[from] images::ImageError),
    #[error("{path}: QEMU cannot take this path on its -initrd list (no spaces or commas allowed); fix: set QXK_E2E_CACHE to a plain path")]
    UnsafePath { path: PathBuf },
}

impl E2eError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> E2eError {
        let path = path.into();
        move |source| E2eError::Io { path, source }
    }
}

pub type Result<T, E = E2eError> = std::result::Result<T, E>;
