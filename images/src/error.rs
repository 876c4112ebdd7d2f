//! One error type for the library: every variant names the file, key or tool involved and says
//! how to fix it, because image builds fail on user input far more often than on bugs.

use std::path::PathBuf;

/// Everything that can go wrong while reading a spec or building an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: cannot read image spec: {source}")]
    ReadSpec {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid image spec: {message}")]
    SpecSyntax { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    SpecKey {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error(
        "unknown image type `{name}` (from {origin}); known types: {known}. Fix: pick one of them"
    )]
    UnknownImageType {
        name: String,
        origin: String,
        known: String,
    },
    #[error("{path}: the root tree has no /sbin/init; the image could never boot. Fix: install an init (or a symlink to one) at sbin/init in the tree")]
    MissingInit { path: PathBuf },
    #[error("{path}: {message}")]
    Content { path: PathBuf, message: String },
    #[error("key `size`: {message}")]
    TooSmall { message: String },
    #[error("`{tool}` failed ({status}): {stderr}{hint}")]
    Tool {
        tool: String,
        status: String,
        stderr: String,
        hint: String,
    },
    #[error("cannot run `{tool}`: {source}. Fix: install it (scripts/setup-debian.sh installs every tool this crate uses)")]
    ToolMissing {
        tool: String,
        source: std::io::Error,
    },
    #[error("{source}{hint}")]
    Process {
        source: Box<qxk_process::Error>,
        hint: String,
    },
    #[error("output {path} already exists. Fix: remove it or pass --force to replace it")]
    OutputExists { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ImageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ImageError>;
