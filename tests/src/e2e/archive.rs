//! An initramfs described as a list of entries and written as one `newc` cpio,
//! streaming each file from where it already is (no staging copy of the tree).
//!
//! Uncompressed on purpose: the guest kernel unpacks it under software emulation,
//! where gunzip costs seconds, while QEMU loads a few more megabytes for free.

use super::error::{E2eError, Result};
use cpio::newc::{Builder, ModeFileType};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
enum Entry {
    Dir,
    /// Contents read from this host file (symlinks followed) at write time.
    File {
        source: PathBuf,
        mode: u32,
    },
    Bytes {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: String,
    },
}

/// Paths are relative to the archive root, without a leading `/`.
#[derive(Default, Debug)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

impl Archive {
    pub fn new() -> Archive {
        Archive::default()
    }

    fn parents(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            self.entries.entry(parent.to_string()).or_insert(Entry::Dir);
            at += i + 1;
        }
    }

    pub fn dir(&mut self, path: &str) {
        let p = clean(path);
        self.parents(&p);
        self.entries.entry(p).or_insert(Entry::Dir);
    }

    /// Adds a host file under `path`, keeping its permission bits.
    pub fn file(&mut self, path: &str, source: &Path) -> Result<()> {
        let meta = fs::metadata(source).map_err(E2eError::io(source))?;
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(
            p,
            Entry::File {
                source: source.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    pub fn bytes(&mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) {
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(
            p,
            Entry::Bytes {
                data: data.into(),
                mode,
            },
        );
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(
            p,
            Entry::Symlink {
                target: target.to_string(),
            },
        );
    }

    /// Adds the host folder `source` under `path`, symlinks kept as symlinks.
    /// `skip` gets each relative path and may leave it out (with everything below).
    pub fn tree(&mut self, path: &str, source: &Path, skip: &dyn Fn(&str) -> bool) -> Result<()> {
        self.dir(path);
        let mut stack = vec![(clean(path), source.to_path_buf())];
        while let Some((dest, src)) = stack.pop() {
            for entry in fs::read_dir(&src).map_err(E2eError::io(&src))? {
                let entry = entry.map_err(E2eError::io(&src))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let d = if dest.is_empty() {
                    name
                } else {
                    format!("{dest}/{name}")
                };
                if skip(&d) {
                    continue;
                }
                let s = entry.path();
                let ft = entry.file_type().map_err(E2eError::io(&s))?;
                if ft.is_symlink() {
                    let target = fs::read_link(&s).map_err(E2eError::io(&s))?;
                    self.symlink(&d, &target.to_string_lossy());
                } else if ft.is_dir() {
                    self.dir(&d);
                    stack.push((d, s));
                } else {
                    self.file(&d, &s)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the archive to `out` (created or replaced).
    pub fn write_to(&self, out: &Path) -> Result<u64> {
        let file = fs::File::create(out).map_err(E2eError::io(out))?;
        let mut w = CountingWriter {
            inner: BufWriter::new(file),
            n: 0,
        };
        self.write(&mut w).map_err(E2eError::io(out))?;
        w.inner.flush().map_err(E2eError::io(out))?;
        Ok(w.n)
    }

    fn write<W: Write>(&self, w: &mut W) -> io::Result<()> {
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let b = Builder::new(path).ino(ino as u32 + 1).uid(0).gid(0);
            match entry {
                Entry::Dir => {
                    let b = b
                        .mode(0o755)
                        .set_mode_file_type(ModeFileType::Directory)
                        .nlink(2);
                    b.write(&mut *w, 0).finish()?;
                }
                Entry::Symlink { target } => {
                    let b = b.mode(0o777).set_mode_file_type(ModeFileType::Symlink);
                    let mut f = b.write(&mut *w, len32(path, target.len() as u64)?);
                    f.write_all(target.as_bytes())?;
                    f.finish()?;
                }
                Entry::Bytes { data, mode } => {
                    let b = b.mode(*mode).set_mode_file_type(ModeFileType::Regular);
                    let mut f = b.write(&mut *w, len32(path, data.len() as u64)?);
                    f.write_all(data)?;
                    f.finish()?;
                }
                Entry::File { source, mode } => {
                    let mut src = fs::File::open(source).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", source.display()))
                    })?;
                    let len = src.metadata()?.len();
                    let b = b.mode(*mode).set_mode_file_type(ModeFileType::Regular);
                    let mut f = b.write(&mut *w, len32(path, len)?);
                    let copied = io::copy(&mut src, &mut f)?;
                    if copied != len {
                        return Err(io::Error::other(format!(
                            "{}: changed while archiving",
                            source.display()
                        )));
                    }
                    f.finish()?;
                }
            }
        }
        cpio::newc::trailer(&mut *w)?;
        Ok(())
    }
}

fn len32(path: &str, len: u64) -> io::Result<u32> {
    u32::try_from(len)
        .map_err(|_| io::Error::other(format!("{path}: {len} bytes is too large for cpio newc")))
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// GNU cpio (the reference reader) lists what we wrote, parents first.
    #[test]
    fn gnu_cpio_reads_the_archive() {
        let dir = std::env::temp_dir().join(format!("qxk-archive-{}", std::process::id()));
        fs::create_dir_all(dir.join("src/sub")).unwrap();
        fs::write(dir.join("src/sub/a.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("a.txt", dir.join("src/sub/link")).unwrap();
        let mut a = Archive::new();
        a.tree("opt/t", &dir.join("src"), &|_| false).unwrap();
        a.bytes("/init", "#!/bin/sh\n", 0o755);
        let out = dir.join("x.cpio");
        a.write_to(&out).unwrap();
        let listing = Command::new("cpio")
            .args(["-itv", "--quiet", "-F"])
            .arg(&out)
            .output()
            .expect("cpio is installed (scripts/setup-debian.sh)");
        assert!(
            listing.status.success(),
            "{}",
            String::from_utf8_lossy(&listing.stderr)
        );
        let text = String::from_utf8_lossy(&listing.stdout);
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().nth(8).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "init",
                "opt",
                "opt/t",
                "opt/t/sub",
                "opt/t/sub/a.txt",
                "opt/t/sub/link"
            ]
        );
        assert!(text.contains("-rwxr-xr-x"), "{text}");
        assert!(text.contains("link -> a.txt"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
