//! One error type for every client operation, so callers can tell daemon refusals
//! (`ENOENT`, `EACCES`, ...) from broken connections and from requests we refused to send.

use std::io;
use std::path::PathBuf;

use crate::wire::{DecodeError, Op, XsErrno};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// xenstored answered `XS_ERROR`.
    #[error("{op} {path}: xenstored answered {errno}")]
    Xenstore {
        op: Op,
        path: String,
        errno: XsErrno,
    },
    /// Reading or writing the transport failed.
    #[error("xenstore connection: {context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    /// The daemon sent bytes that do not form a valid reply; the connection is unusable after this.
    #[error("xenstore protocol error: {0} (the connection was closed; open a new one)")]
    Protocol(#[from] DecodeError),
    /// A reply that does not belong to the request in flight.
    #[error("xenstore protocol error: got {got} with request id {got_req} while waiting for {want} id {want_req} (the connection was closed; open a new one)")]
    UnexpectedReply {
        want: Op,
        want_req: u32,
        got: Op,
        got_req: u32,
    },
    /// An earlier protocol or I/O error left the connection in an unknown state.
    #[error("xenstore connection is broken by an earlier error; open a new one")]
    Broken,
    /// The path would be refused by xenstored; checked before sending.
    #[error("invalid xenstore path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    /// The request would exceed `XENSTORE_PAYLOAD_MAX`.
    #[error("{op} request payload is {len} bytes; xenstore allows at most {max} (shorten the value or path)")]
    PayloadTooLarge { op: Op, len: usize, max: usize },
    /// Invalid permission text such as `x3`.
    #[error("invalid xenstore permission {0:?}: expected a letter r, w, b or n followed by a domain id, e.g. r0 or n5")]
    InvalidPerm(String),
    /// No transport could be opened.
    #[error("cannot reach xenstored: {}", describe_attempts(.tried))]
    NotConnected { tried: Vec<(PathBuf, io::Error)> },
    /// A transaction kept conflicting (EAGAIN) beyond the retry policy.
    #[error("transaction still conflicting (EAGAIN) after {attempts} attempts; retry later or raise the retry limit")]
    RetriesExhausted { attempts: u32 },
}

fn describe_attempts(tried: &[(PathBuf, io::Error)]) -> String {
    let parts: Vec<String> = tried
        .iter()
        .map(|(p, e)| format!("{}: {e}", p.display()))
        .collect();
    format!(
        "{} (set XENSTORED_PATH to the daemon's socket)",
        parts.join("; ")
    )
}

impl Error {
    /// The xenstore error name, if the daemon refused the request.
    pub fn errno(&self) -> Option<XsErrno> {
        match self {
            Error::Xenstore { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// True when the daemon refused because a transaction conflicted.
    pub fn is_conflict(&self) -> bool {
        self.errno() == Some(XsErrno::EAGAIN)
    }

    /// True for `ENOENT`.
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(XsErrno::ENOENT)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Xenstore { errno, .. } => io::Error::from_raw_os_error(errno.raw_os_error()),
            Error::Io { source, .. } => source,
            Error::InvalidPath { .. } | Error::InvalidPerm(_) => {
                io::Error::new(io::ErrorKind::InvalidInput, e)
            }
            Error::PayloadTooLarge { .. } => io::Error::from_raw_os_error(libc::E2BIG),
            other => io::Error::other(other),
        }
    }
}
