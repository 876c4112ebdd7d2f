//! NAR (Nix ARchive) serialisation, hashed as it is produced. Written by hand: the format is
//! tiny and fixed, and the crates that implement it pull in async runtimes or Nix store types.
//!
//! Format: every string is a little-endian u64 length, the bytes, zero padding to 8. A node is
//! `( type regular [executable ""] contents <data> )`, `( type symlink target <t> )` or
//! `( type directory (entry ( name <n> node <node> ))* )`, entries sorted by name bytes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{Sha256Digest, Sha256Hasher};

/// A tree could not be serialised; names the path.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    /// Reading the tree failed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A file type NAR cannot hold (socket, device, fifo).
    #[error(
        "{path}: unsupported file type for a NAR (only regular files, symlinks and directories)"
    )]
    Unsupported { path: PathBuf },
    /// The sink failed.
    #[error("writing the NAR: {0}")]
    Sink(io::Error),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> NarError + '_ {
    move |source| NarError::Io {
        path: path.to_owned(),
        source,
    }
}

struct NarWriter<'w, W: Write> {
    out: &'w mut W,
    buf: Vec<u8>,
}

impl<W: Write> NarWriter<'_, W> {
    fn str(&mut self, s: &[u8]) -> Result<(), NarError> {
        let w = &mut self.out;
        w.write_all(&(s.len() as u64).to_le_bytes())
            .map_err(NarError::Sink)?;
        w.write_all(s).map_err(NarError::Sink)?;
        pad(w, s.len() as u64)
    }

    fn node(&mut self, path: &Path) -> Result<(), NarError> {
        let meta = fs::symlink_metadata(path).map_err(io_at(path))?;
        let ft = meta.file_type();
        self.str(b"(")?;
        self.str(b"type")?;
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_at(path))?;
            self.str(b"symlink")?;
            self.str(b"target")?;
            self.str(target.as_os_str().as_bytes())?;
        } else if ft.is_file() {
            self.str(b"regular")?;
            if meta.permissions().mode() & 0o100 != 0 {
                self.str(b"executable")?;
                self.str(b"")?;
            }
            self.str(b"contents")?;
            self.contents(path, meta.len())?;
        } else if ft.is_dir() {
            self.str(b"directory")?;
            let mut names: Vec<_> = fs::read_dir(path)
                .map_err(io_at(path))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(io_at(path))?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                self.str(b"entry")?;
                self.str(b"(")?;
                self.str(b"name")?;
                self.str(name.as_bytes())?;
                self.str(b"node")?;
                self.node(&path.join(&name))?;
                self.str(b")")?;
            }
        } else {
            return Err(NarError::Unsupported {
                path: path.to_owned(),
            });
        }
        self.str(b")")
    }

    fn contents(&mut self, path: &Path, expected: u64) -> Result<(), NarError> {
        self.out
            .write_all(&expected.to_le_bytes())
            .map_err(NarError::Sink)?;
        let mut f = File::open(path).map_err(io_at(path))?;
        let mut n = 0u64;
        loop {
            let got = match f.read(&mut self.buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_at(path)(e)),
            };
            n += got as u64;
            if n > expected {
                break;
            }
            self.out
                .write_all(&self.buf[..got])
                .map_err(NarError::Sink)?;
        }
        if n != expected {
            return Err(NarError::Io {
                path: path.to_owned(),
                source: io::Error::other(format!(
                    "file changed size while being read ({expected} then {n} bytes)"
                )),
            });
        }
        pad(self.out, n)
    }
}

fn pad<W: Write>(w: &mut W, len: u64) -> Result<(), NarError> {
    let p = (8 - (len % 8) as usize) % 8;
    w.write_all(&[0u8; 8][..p]).map_err(NarError::Sink)
}

/// Serialise the tree at `path` (a file, symlink or directory) as a NAR into `out`.
pub fn write_nar<W: Write>(path: &Path, out: &mut W) -> Result<(), NarError> {
    let mut w = NarWriter {
        out,
        buf: vec![0u8; 256 * 1024],
    };
    w.str(b"nix-archive-1")?;
    w.node(path)
}

/// The sha256 of the NAR of `path`, streamed (never held in memory); equals
/// `nix-hash --type sha256 PATH` (hex) and, via [`Sha256Digest::to_nix_base32`], `--base32`.
pub fn nar_hash(path: &Path) -> Result<Sha256Digest, NarError> {
    let mut h = Sha256Hasher::new();
    write_nar(path, &mut h)?;
    Ok(h.finalize())
}
