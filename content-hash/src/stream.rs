//! Hash while copying: reader and writer adaptors so a download or copy is hashed in the same pass.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::Digest as _;

use crate::Sha256Digest;

/// An incremental sha256 that also counts bytes.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    inner: sha2::Sha256,
    len: u64,
}

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }
    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The digest of everything fed.
    pub fn finalize(self) -> Sha256Digest {
        Sha256Digest(self.inner.finalize().into())
    }
}

impl Write for Sha256Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hashes every byte it hands out.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::new(),
        }
    }
    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }
    /// True when nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }
    /// The inner reader, digest of what was read, and its length.
    pub fn finish(self) -> (R, Sha256Digest, u64) {
        let len = self.hasher.len();
        (self.inner, self.hasher.finalize(), len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes every byte the inner writer accepted.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::new(),
        }
    }
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }
    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }
    /// Borrow the inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    /// The inner writer, digest of what was written, and its length.
    pub fn finish(self) -> (W, Sha256Digest, u64) {
        let len = self.hasher.len();
        (self.inner, self.hasher.finalize(), len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hash everything `r` yields; returns the digest and the byte count.
pub fn hash_reader<R: Read>(mut r: R) -> io::Result<(Sha256Digest, u64)> {
    let mut h = Sha256Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let len = h.len();
    Ok((h.finalize(), len))
}

/// Hash a file's contents; the error names the path.
pub fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    let f = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    hash_reader(f).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
