//! The vchan exchange between dom0's server (e2e-dom0) and the bundle template's client
//! (e2e-vchan): each side sends [`STREAM_BYTES`] of pseudo-random data followed by the
//! sha256 of what it sent, so the receiver can compare what arrived with what left.
//! dom0 sends first; the guest answers with its own stream; dom0 ends with one ack byte,
//! so the guest does not close while its last bytes are still in the ring.

use anyhow::{ensure, Context, Result};
use content_hash::Sha256Hasher;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Bytes each side sends (16 MiB, as issue 15 asks).
pub const STREAM_BYTES: usize = 16 << 20;
/// Ring sizes dom0's server asks for, each way (qrexec's own size).
pub const RING_BYTES: usize = 64 << 10;
/// Under the guest's xenstore home: where dom0 publishes the vchan.
pub const PATH_IN_HOME: &str = "data/qxk-vchan";
/// The ack dom0 sends once it has the guest's stream and checksum.
pub const ACK: u8 = b'K';
/// Chunk size of reads and writes.
const CHUNK: usize = 64 << 10;

/// One direction of the exchange, as a side saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub bytes: usize,
    /// sha256 of the bytes (sent, or received), hex.
    pub sha256: String,
    /// For a received stream: the sha256 the sender announced after it.
    pub announced: Option<String>,
    pub elapsed: Duration,
}

impl Transfer {
    /// MiB per second.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// xorshift64*: cheap and deterministic; the data only has to be non-trivial.
fn fill(state: &mut u64, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// Sends [`STREAM_BYTES`] generated from `seed`, then their sha256.
pub fn send(w: &mut impl Write, seed: u64) -> Result<Transfer> {
    // xorshift must not start at 0; distinct seeds stay distinct.
    let mut state = match seed ^ 0x9e37_79b9_7f4a_7c15 {
        0 => 1,
        s => s,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut h = Sha256Hasher::new();
    let start = Instant::now();
    let mut left = STREAM_BYTES;
    while left > 0 {
        let n = left.min(CHUNK);
        fill(&mut state, &mut buf[..n]);
        h.update(&buf[..n]);
        w.write_all(&buf[..n])
            .with_context(|| format!("vchan write after {} bytes", STREAM_BYTES - left))?;
        left -= n;
    }
    let digest = h.finalize();
    w.write_all(digest.as_bytes())
        .context("vchan write of the sha256")?;
    Ok(Transfer {
        bytes: STREAM_BYTES,
        sha256: digest.to_hex(),
        announced: None,
        elapsed: start.elapsed(),
    })
}

/// Receives [`STREAM_BYTES`] and the sha256 the sender announced after them.
pub fn receive(r: &mut impl Read) -> Result<Transfer> {
    let mut buf = vec![0u8; CHUNK];
    let mut h = Sha256Hasher::new();
    let start = Instant::now();
    let mut got = 0;
    while got < STREAM_BYTES {
        let want = (STREAM_BYTES - got).min(CHUNK);
        let n = r
            .read(&mut buf[..want])
            .with_context(|| format!("vchan read after {got} bytes"))?;
        ensure!(
            n > 0,
            "the vchan closed after {got} bytes, expected {STREAM_BYTES}"
        );
        h.update(&buf[..n]);
        got += n;
    }
    let elapsed = start.elapsed();
    let mut announced = [0u8; 32];
    r.read_exact(&mut announced)
        .with_context(|| format!("vchan read of the sender's sha256 after {got} bytes"))?;
    Ok(Transfer {
        bytes: got,
        sha256: h.finalize().to_hex(),
        announced: Some(content_hash::Sha256Digest::from(announced).to_hex()),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_received_equals_the_stream_sent() {
        let mut wire = Vec::new();
        let sent = send(&mut wire, 42).unwrap();
        assert_eq!(wire.len(), STREAM_BYTES + 32);
        let got = receive(&mut wire.as_slice()).unwrap();
        assert_eq!(got.sha256, sent.sha256);
        assert_eq!(got.announced.as_deref(), Some(sent.sha256.as_str()));
        // A flipped byte shows.
        wire[1000] ^= 1;
        let bad = receive(&mut wire.as_slice()).unwrap();
        assert_ne!(bad.sha256, sent.sha256);
        // Different seeds, different data.
        let mut other = Vec::new();
        assert_ne!(send(&mut other, 43).unwrap().sha256, sent.sha256);
    }

    #[test]
    fn a_short_stream_is_an_error() {
        let mut wire = Vec::new();
        send(&mut wire, 7).unwrap();
        wire.truncate(STREAM_BYTES / 2);
        let e = receive(&mut wire.as_slice()).unwrap_err().to_string();
        assert!(e.contains("closed after 8388608 bytes"), "{e}");
    }
}
