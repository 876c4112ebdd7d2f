//! Errors of the Kconfig engine: every one names the file and line it comes from.
use std::path::PathBuf;

/// A Kconfig tree or `.config` that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Syntax or semantic error in a Kconfig file.
    #[error("{file}:{line}: {msg}")]
    Kconfig {
        file: String,
        line: usize,
        msg: String,
    },
    /// A file of the tree could not be read.
    #[error("{}: {source} (is the Kconfig tree complete? pass the Xen `xen/` directory)", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file of recorded probe answers that cannot be read or written as JSON.
    #[error("{}: {msg}", path.display())]
    Probes { path: PathBuf, msg: String },
    /// A host probe (`$(shell,...)`) failed to run.
    #[error("{file}:{line}: $(shell,{cmd}) failed: {msg}")]
    Shell {
        file: String,
        line: usize,
        cmd: String,
        msg: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
