//! Byte pipes to xenstored: the daemon's unix socket or the guest's xenbus device. Both carry
//! the same framing, so the client only needs "send all", "receive some" and "wait".

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::error::{Error, Result};

/// The guest device on Linux.
pub const XENBUS_DEVICE: &str = "/dev/xen/xenbus";
/// Where xenstored puts its socket when nothing else is configured.
pub const DEFAULT_SOCKET: &str = "/var/run/xenstored/socket";

/// A connection's byte pipe.
pub trait Transport: Send {
    /// Writes the whole buffer.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Reads at least one byte, or returns 0 at end of stream.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Waits until `recv` would not block; `None` waits forever. Returns false on timeout.
    fn wait_readable(&mut self, timeout: Option<Duration>) -> io::Result<bool>;
}

fn poll_readable(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<bool> {
    let ts = timeout.map(|t| Timespec {
        tv_sec: t.as_secs() as i64,
        tv_nsec: t.subsec_nanos() as i64,
    });
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    loop {
        match poll(&mut fds, ts.as_ref()) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Transport for UnixStream {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
    fn wait_readable(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        poll_readable(&*self, timeout)
    }
}

/// Writes `bytes` (whole frames back to back) one frame per `write()`.
///
/// Linux's `/dev/xen/xenbus` takes one message per `write()`: it relays the first
/// frame, drops the rest and still reports every byte written, so pipelined
/// requests would never be answered. Found by the end-to-end test in a PV domU.
fn send_frame_by_frame(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < crate::wire::HEADER_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "partial xenstore frame header",
            ));
        }
        let len = u32::from_le_bytes([rest[12], rest[13], rest[14], rest[15]]) as usize;
        let end = (crate::wire::HEADER_LEN + len).min(rest.len());
        let (frame, tail) = rest.split_at(end);
        let written = loop {
            match w.write(frame) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if written != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("xenbus took {written} of a {}-byte message", frame.len()),
            ));
        }
        rest = tail;
    }
    Ok(())
}

/// The xenbus character device; the kernel relays whole messages to xenstored.
impl Transport for File {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        send_frame_by_frame(self, bytes)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
    fn wait_readable(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        poll_readable(&*self, timeout)
    }
}

/// Where to look for xenstored, in the order the C library uses: `XENSTORED_PATH`,
/// `XENSTORED_RUNDIR/socket`, `/var/run/xenstored/socket`, then the xenbus device.
pub fn candidates() -> Vec<PathBuf> {
    candidates_with(|k| std::env::var_os(k))
}

/// [`candidates`] with the environment passed in (testable without touching the process's).
pub fn candidates_with(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let socket = match (env("XENSTORED_PATH"), env("XENSTORED_RUNDIR")) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(dir)) => Path::new(&dir).join("socket"),
        (None, None) => PathBuf::from(DEFAULT_SOCKET),
    };
    vec![socket, PathBuf::from(XENBUS_DEVICE)]
}

/// Opens one path: a character device is used as xenbus, anything else as a unix socket.
pub fn open_path(path: &Path) -> io::Result<Box<dyn Transport>> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path)?;
    if meta.file_type().is_char_device() {
        Ok(Box::new(File::options().read(true).write(true).open(path)?))
    } else {
        Ok(Box::new(UnixStream::connect(path)?))
    }
}

/// Opens the first reachable candidate.
pub fn open_default() -> Result<Box<dyn Transport>> {
    let mut tried = Vec::new();
    for path in candidates() {
        match open_path(&path) {
            Ok(t) => {
                tracing::debug!(path = %path.display(), "connected to xenstore");
                return Ok(t);
            }
            Err(e) => tried.push((path, e)),
        }
    }
    Err(Error::NotConnected { tried })
}

/// An in-memory daemon stand-in: replays fixed reply bytes and records what the client sent.
/// Used by golden-bytes tests and the fuzz target; end of input reads as a closed socket.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    input: Vec<u8>,
    pos: usize,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Scripted {
    pub fn new(replies: impl Into<Vec<u8>>) -> Scripted {
        Scripted {
            input: replies.into(),
            pos: 0,
            sent: Arc::default(),
        }
    }

    /// Everything the client wrote so far.
    pub fn sent(&self) -> Vec<u8> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Transport for Scripted {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sent
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Hand out small, uneven pieces so frame reassembly is exercised.
        let n = buf
            .len()
            .min(self.input.len() - self.pos)
            .min(1 + self.pos % 7 * 300);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn wait_readable(&mut self, _timeout: Option<Duration>) -> io::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_follows_the_c_library() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
        };
        let both = candidates_with(env(&[
            ("XENSTORED_PATH", "/p/s"),
            ("XENSTORED_RUNDIR", "/r"),
        ]));
        assert_eq!(both, [PathBuf::from("/p/s"), PathBuf::from(XENBUS_DEVICE)]);
        let rundir = candidates_with(env(&[("XENSTORED_RUNDIR", "/r")]));
        assert_eq!(rundir[0], PathBuf::from("/r/socket"));
        let none = candidates_with(env(&[]));
        assert_eq!(
            none,
            [PathBuf::from(DEFAULT_SOCKET), PathBuf::from(XENBUS_DEVICE)]
        );
    }

    #[test]
    fn unreachable_daemon_names_every_place_tried() {
        let e = match open_path(Path::new("/nonexistent/xenstored/socket")) {
            Err(e) => Error::NotConnected {
                tried: vec![("/nonexistent/xenstored/socket".into(), e)],
            },
            Ok(_) => panic!("opened a missing socket"),
        };
        let text = e.to_string();
        assert!(
            text.contains("/nonexistent/xenstored/socket") && text.contains("XENSTORED_PATH"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod frame_tests {
    use super::send_frame_by_frame;

    /// Records each write() call, as the xenbus device sees them.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn frame(req_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        for v in [2u32, req_id, 0, payload.len() as u32] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn pipelined_requests_reach_the_device_one_write_each() {
        let (a, b, c) = (
            frame(1, b"/a\0"),
            frame(2, b""),
            frame(3, b"/local/domain\0"),
        );
        let all = [a.clone(), b.clone(), c.clone()].concat();
        let mut w = Writes::default();
        send_frame_by_frame(&mut w, &all).unwrap();
        assert_eq!(w.0, vec![a, b, c]);
        let mut w = Writes::default();
        assert!(send_frame_by_frame(&mut w, &all[..10]).is_err());
    }
}
