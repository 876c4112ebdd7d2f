//! The xenstore wire format: a 16-byte little-endian header (type, req_id, tx_id, len)
//! followed by `len` payload bytes. Facts from Xen 4.17's `xen/io/xs_wire.h`.

use std::fmt;

/// Largest payload either side may send (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = 4096;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = 3072;
/// Longest relative path (`XENSTORE_REL_PATH_MAX`).
pub const REL_PATH_MAX: usize = 2048;
/// Size of the fixed message header.
pub const HEADER_LEN: usize = 16;

macro_rules! ops {
    ($($name:ident = $num:expr, $wire:literal;)*) => {
        /// Message types (`enum xsd_sockmsg_type`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Op { $($name = $num,)* }

        impl Op {
            /// Decodes a message type number; `None` for numbers Xen 4.17 does not define.
            pub fn from_u32(n: u32) -> Option<Op> {
                match n { $($num => Some(Op::$name),)* _ => None }
            }
            /// The C name, as xenstored logs it.
            pub fn name(self) -> &'static str {
                match self { $(Op::$name => $wire,)* }
            }
        }
    };
}

ops! {
    Control = 0, "XS_CONTROL";
    Directory = 1, "XS_DIRECTORY";
    Read = 2, "XS_READ";
    GetPerms = 3, "XS_GET_PERMS";
    Watch = 4, "XS_WATCH";
    Unwatch = 5, "XS_UNWATCH";
    TransactionStart = 6, "XS_TRANSACTION_START";
    TransactionEnd = 7, "XS_TRANSACTION_END";
    Introduce = 8, "XS_INTRODUCE";
    Release = 9, "XS_RELEASE";
    GetDomainPath = 10, "XS_GET_DOMAIN_PATH";
    Write = 11, "XS_WRITE";
    Mkdir = 12, "XS_MKDIR";
    Rm = 13, "XS_RM";
    SetPerms = 14, "XS_SET_PERMS";
    WatchEvent = 15, "XS_WATCH_EVENT";
    Error = 16, "XS_ERROR";
    IsDomainIntroduced = 17, "XS_IS_DOMAIN_INTRODUCED";
    Resume = 18, "XS_RESUME";
    SetTarget = 19, "XS_SET_TARGET";
    ResetWatches = 21, "XS_RESET_WATCHES";
    DirectoryPart = 22, "XS_DIRECTORY_PART";
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        /// Error names xenstored sends in `XS_ERROR` replies (`xsd_errors[]`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum XsErrno { $($name,)* }

        impl XsErrno {
            /// Parses the name carried in an `XS_ERROR` payload.
            pub fn from_name(name: &str) -> Option<XsErrno> {
                match name { $(stringify!($name) => Some(XsErrno::$name),)* _ => None }
            }
            /// The name as sent on the wire.
            pub fn name(self) -> &'static str {
                match self { $(XsErrno::$name => stringify!($name),)* }
            }
            /// The Linux errno value, so `std::io::Error` users see the usual code.
            pub fn raw_os_error(self) -> i32 {
                match self { $(XsErrno::$name => libc::$name,)* }
            }
        }
    };
}

errnos!(
    EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS, EBUSY,
    EAGAIN, EISCONN, E2BIG, EPERM,
);

impl fmt::Display for XsErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Raw type number (may be unknown to us).
    pub kind: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub len: u32,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.tx_id.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            kind: word(0),
            req_id: word(4),
            tx_id: word(8),
            len: word(12),
        }
    }
}

/// Why bytes from the daemon could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message claims a {len}-byte payload; the protocol maximum is {PAYLOAD_MAX}")]
    Oversized { len: u32 },
    #[error("message type {0} is not a Xen 4.17 xenstore operation")]
    UnknownType(u32),
    #[error("{op} reply payload is malformed: {why}")]
    Malformed { op: Op, why: &'static str },
}

/// One complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub op: Op,
    pub req_id: u32,
    pub tx_id: u32,
    pub payload: Vec<u8>,
}

/// Tries to take one message off the front of `buf`. `Ok(None)` means more bytes are needed;
/// on success returns the frame and how many bytes it used.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let h = Header::from_bytes(head);
    // Check the length before the type so a garbage stream is reported as what it most likely is.
    if h.len as usize > PAYLOAD_MAX {
        return Err(DecodeError::Oversized { len: h.len });
    }
    let op = Op::from_u32(h.kind).ok_or(DecodeError::UnknownType(h.kind))?;
    let total = HEADER_LEN + h.len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = Frame {
        op,
        req_id: h.req_id,
        tx_id: h.tx_id,
        payload: buf[HEADER_LEN..total].to_vec(),
    };
    Ok(Some((frame, total)))
}

/// Encodes a request whose payload is the concatenation of `parts`, into one buffer so it
/// goes out in a single write.
pub fn encode_request(op: Op, req_id: u32, tx_id: u32, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(
        &Header {
            kind: op as u32,
            req_id,
            tx_id,
            len: len as u32,
        }
        .to_bytes(),
    );
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Splits a payload of nul-terminated strings (DIRECTORY, GET_PERMS, WATCH_EVENT replies).
/// A missing final nul is tolerated, as some daemons omit it on the last string.
pub fn split_strings(op: Op, payload: &[u8]) -> Result<Vec<String>, DecodeError> {
    let body = payload.strip_suffix(b"\0").unwrap_or(payload);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split(|b| *b == 0)
        .map(|s| {
            String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Malformed {
                op,
                why: "a string is not UTF-8",
            })
        })
        .collect()
}

/// Parses an `XS_ERROR` payload such as `ENOENT\0`.
pub fn parse_error(payload: &[u8]) -> Result<XsErrno, DecodeError> {
    let name = payload.strip_suffix(b"\0").unwrap_or(payload);
    std::str::from_utf8(name)
        .ok()
        .and_then(XsErrno::from_name)
        .ok_or(DecodeError::Malformed {
            op: Op::Error,
            why: "unknown error name",
        })
}
