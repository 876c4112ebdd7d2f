//! A vchan (libxenvchan): a byte stream between two domains over shared grant pages and an
//! event channel, the transport under Qubes' qrexec. The server shares the rings and
//! publishes them under a xenstore path; the client, in the other domain, maps them.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use xen_toolstack::vchan::Vchan;
//! // dom0: serve domain 5 at its data/vchan/1 (5 KiB in, 64 KiB out).
//! let mut server = Vchan::server(5, "/local/domain/5/data/vchan/1", 5 * 1024, 64 * 1024)?;
//! server.write_all(b"hello")?;
//! // domain 5: connect to dom0's server.
//! let mut client = Vchan::client(0, "/local/domain/5/data/vchan/1")?;
//! let mut buf = [0u8; 5];
//! client.read_exact(&mut buf)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CString;
use std::fmt;
use std::io;
use std::path::Path;
use std::ptr::NonNull;

use xen_sys::{libxenvchan, libxenvchan_client_init, libxenvchan_close, libxenvchan_server_init};

use crate::logger::{LogMessage, QuietLogger};

/// libxenvchan_client_init formats `PATH/event-channel` into a 64-byte buffer and silently
/// truncates a longer one; longer paths are refused here instead.
pub const MAX_PATH_LEN: usize = 64 - 1 - "/event-channel".len();

/// Which end of the vchan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

impl Side {
    fn call(self) -> &'static str {
        match self {
            Side::Server => "libxenvchan_server_init",
            Side::Client => "libxenvchan_client_init",
        }
    }

    /// The device nodes this side opens (besides xenstore).
    fn devices(self) -> &'static [&'static str] {
        match self {
            Side::Server => &["/dev/xen/gntalloc", "/dev/xen/evtchn"],
            Side::Client => &["/dev/xen/gntdev", "/dev/xen/evtchn"],
        }
    }
}

/// A vchan could not be set up.
#[derive(Debug)]
pub enum VchanError {
    /// The xenstore path cannot be used (empty, a NUL byte, too long for libxenvchan).
    Path { path: String, expected: String },
    /// libxenvchan refused: no hypervisor, no peer, no permission, ...
    Init {
        side: Side,
        domain: u32,
        path: String,
        /// errno as the library left it.
        error: io::Error,
        /// Device nodes this side needs that do not exist here.
        missing: Vec<&'static str>,
        /// What the library logged while failing.
        log: Vec<LogMessage>,
    },
}

impl VchanError {
    /// The raw errno value, for an `Init` failure.
    pub fn errno(&self) -> Option<i32> {
        match self {
            VchanError::Init { error, .. } => error.raw_os_error(),
            VchanError::Path { .. } => None,
        }
    }
}

impl fmt::Display for VchanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VchanError::Path { path, expected } => {
                write!(f, "vchan xenstore path {path:?}: expected {expected}")
            }
            VchanError::Init {
                side,
                domain,
                path,
                error,
                missing,
                log,
            } => {
                write!(
                    f,
                    "{}(domain {domain}, {path:?}) failed: {error}",
                    side.call()
                )?;
                if !missing.is_empty() {
                    write!(
                        f,
                        "; {} missing: run this in a Xen domain with the xen-gntalloc, \
                         xen-gntdev and xen-evtchn drivers loaded",
                        missing.join(", ")
                    )?;
                }
                if let Some(last) = log.last() {
                    write!(f, " ({})", last.text)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for VchanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VchanError::Init { error, .. } => Some(error),
            VchanError::Path { .. } => None,
        }
    }
}

/// One end of an open vchan; closes (and, for a server, removes its xenstore entries) on drop.
/// Reads and writes block, as `std::io` expects; a read after the peer closed returns 0.
pub struct Vchan {
    ctrl: NonNull<libxenvchan>,
    side: Side,
    // Dropped after the vchan (fields drop in order, after Drop::drop).
    logger: QuietLogger,
}

// SAFETY: the handle is owned, used only through &mut self for I/O, and libxenvchan keeps no
// thread-local state; the logger's messages sit behind a mutex.
unsafe impl Send for Vchan {}

fn c_path(path: &str) -> Result<CString, VchanError> {
    let refuse = |expected: String| VchanError::Path {
        path: path.to_string(),
        expected,
    };
    if path.is_empty() {
        return Err(refuse(
            "a xenstore path such as /local/domain/5/data/vchan/1".into(),
        ));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(refuse(format!(
            "at most {MAX_PATH_LEN} bytes (libxenvchan truncates longer ones), found {}",
            path.len()
        )));
    }
    CString::new(path).map_err(|_| refuse("no NUL byte".into()))
}

impl Vchan {
    /// Shares rings for `domain` and publishes them at `path` in xenstore. `read_min` and
    /// `write_min` are the smallest ring sizes wanted (libxenvchan rounds up to 1 KiB, 2 KiB
    /// or whole pages). The client connects later; I/O blocks until it does.
    pub fn server(
        domain: u32,
        path: &str,
        read_min: usize,
        write_min: usize,
    ) -> Result<Vchan, VchanError> {
        let c = c_path(path)?;
        let logger = QuietLogger::new();
        // SAFETY: valid logger (outlives the vchan: same struct) and C string.
        let ctrl = unsafe {
            libxenvchan_server_init(
                logger.as_ptr(),
                domain as i32,
                c.as_ptr(),
                read_min,
                write_min,
            )
        };
        Vchan::finish(ctrl, Side::Server, domain, path, logger)
    }

    /// Connects to the server that `domain` published at `path`.
    pub fn client(domain: u32, path: &str) -> Result<Vchan, VchanError> {
        let c = c_path(path)?;
        let logger = QuietLogger::new();
        // SAFETY: as in `server`.
        let ctrl = unsafe { libxenvchan_client_init(logger.as_ptr(), domain as i32, c.as_ptr()) };
        Vchan::finish(ctrl, Side::Client, domain, path, logger)
    }

    fn finish(
        ctrl: *mut libxenvchan,
        side: Side,
        domain: u32,
        path: &str,
        logger: QuietLogger,
    ) -> Result<Vchan, VchanError> {
        let Some(ctrl) = NonNull::new(ctrl) else {
            let error = io::Error::last_os_error();
            let missing = side
                .devices()
                .iter()
                .copied()
                .filter(|d| !Path::new(d).exists())
                .collect();
            return Err(VchanError::Init {
                side,
                domain,
                path: path.to_string(),
                error,
                missing,
                log: logger.messages(),
            });
        };
        // SAFETY: a live handle; blocking I/O is what Read/Write promise.
        unsafe { (*ctrl.as_ptr()).set_blocking(1) };
        Ok(Vchan { ctrl, side, logger })
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn as_ptr(&self) -> *mut libxenvchan {
        self.ctrl.as_ptr()
    }

    /// Whether the peer is (still) there.
    pub fn is_open(&self) -> bool {
        // SAFETY: live handle.
        unsafe { xen_sys::libxenvchan_is_open(self.as_ptr()) != 0 }
    }

    /// Bytes that can be read now without blocking.
    pub fn data_ready(&self) -> usize {
        // SAFETY: live handle.
        unsafe { xen_sys::libxenvchan_data_ready(self.as_ptr()) }.max(0) as usize
    }

    /// Bytes that can be written now without blocking.
    pub fn buffer_space(&self) -> usize {
        // SAFETY: live handle.
        unsafe { xen_sys::libxenvchan_buffer_space(self.as_ptr()) }.max(0) as usize
    }

    /// The event-channel fd, for poll/select in an event loop.
    pub fn fd(&self) -> std::os::fd::RawFd {
        // SAFETY: live handle.
        unsafe { xen_sys::libxenvchan_fd_for_select(self.as_ptr()) }
    }

    /// What the library logged so far.
    pub fn log(&self) -> Vec<LogMessage> {
        self.logger.messages()
    }
}

/// libxenvchan takes and returns `int` sizes.
fn clamp(len: usize) -> usize {
    len.min(i32::MAX as usize)
}

impl io::Read for Vchan {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: live handle; buf has room for the clamped length.
        let n = unsafe {
            xen_sys::libxenvchan_read(self.as_ptr(), buf.as_mut_ptr().cast(), clamp(buf.len()))
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let error = io::Error::last_os_error();
        // -1 with nothing left to read and the peer gone is the end of the stream.
        if !self.is_open() && self.data_ready() == 0 {
            return Ok(0);
        }
        Err(error)
    }
}

impl io::Write for Vchan {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: live handle; buf holds the clamped length.
        let n = unsafe {
            xen_sys::libxenvchan_write(self.as_ptr(), buf.as_ptr().cast(), clamp(buf.len()))
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        if !self.is_open() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the vchan peer closed its end",
            ));
        }
        Err(io::Error::last_os_error())
    }

    /// Writes go straight into the shared ring and notify the peer.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Vchan {
    fn drop(&mut self) {
        // SAFETY: opened by server_init/client_init, closed once.
        unsafe { libxenvchan_close(self.ctrl.as_ptr()) };
    }
}
