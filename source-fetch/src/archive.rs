//! Safe extraction of tar archives (plain, gzip, xz — detected from magic bytes): every entry is
//! checked before anything is written, and nothing is ever written outside the target.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Why an archive was refused or could not be unpacked. Names the archive and the entry.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// An entry's path would land outside the target (`..`, absolute path).
    #[error(
        "{archive}: refusing entry `{entry}`: {why}; the archive tries to write outside the target"
    )]
    Unsafe {
        archive: String,
        entry: String,
        why: String,
    },
    /// An entry type we do not unpack (devices, fifos).
    #[error("{archive}: refusing entry `{entry}`: unsupported entry type {kind}")]
    Unsupported {
        archive: String,
        entry: String,
        kind: String,
    },
    /// Reading the archive or writing the tree failed.
    #[error("{archive}: {what}: {source}")]
    Io {
        archive: String,
        what: String,
        source: io::Error,
    },
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractStats {
    /// Regular files written.
    pub files: u64,
    /// Directories listed in the archive.
    pub dirs: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Hard links created.
    pub hardlinks: u64,
    /// Bytes of regular file content.
    pub bytes: u64,
}

/// Unpack a tarball file (`.tar`, `.tar.gz`, `.tar.xz`; compression detected from content).
pub fn extract_tarball(archive: &Path, dest: &Path) -> Result<ExtractStats, ArchiveError> {
    let name = archive.display().to_string();
    let f = fs::File::open(archive).map_err(|source| ArchiveError::Io {
        archive: name.clone(),
        what: "opening".into(),
        source,
    })?;
    extract_stream(BufReader::with_capacity(256 * 1024, f), dest, &name)
}

/// Unpack a tar stream, decompressing gzip or xz when its magic bytes say so. `name` appears in
/// errors.
pub fn extract_stream<R: BufRead>(
    mut r: R,
    dest: &Path,
    name: &str,
) -> Result<ExtractStats, ArchiveError> {
    let head = r.fill_buf().map_err(|source| ArchiveError::Io {
        archive: name.to_owned(),
        what: "reading".into(),
        source,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        extract_tar(flate2::bufread::MultiGzDecoder::new(r), dest, name)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        extract_tar(xz2::bufread::XzDecoder::new_multi_decoder(r), dest, name)
    } else {
        extract_tar(r, dest, name)
    }
}

/// Normalise a relative path lexically; `None` if it is absolute or climbs above its root.
fn contained(p: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("it climbs above the target with `..`");
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err("it is an absolute path"),
        }
    }
    Ok(out)
}

/// Unpack an uncompressed tar stream into `dest` (created if missing).
pub fn extract_tar<R: Read>(r: R, dest: &Path, name: &str) -> Result<ExtractStats, ArchiveError> {
    let io_err = |what: String| {
        move |source| ArchiveError::Io {
            archive: name.to_owned(),
            what,
            source,
        }
    };
    fs::create_dir_all(dest).map_err(io_err(format!("creating {}", dest.display())))?;
    let mut ar = tar::Archive::new(r);
    let mut stats = ExtractStats::default();
    for entry in ar.entries().map_err(io_err("reading entries".into()))? {
        let mut entry = entry.map_err(io_err("reading an entry".into()))?;
        let raw = entry
            .path()
            .map_err(io_err("reading an entry's path".into()))?
            .into_owned();
        let shown = raw.display().to_string();
        let unsafe_entry = |why: String| ArchiveError::Unsafe {
            archive: name.to_owned(),
            entry: shown.clone(),
            why,
        };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue; // pax metadata (git archive stores the commit id here)
        }
        // Refuse `..` anywhere, even when it would stay inside: no legitimate source tarball needs it.
        if raw.components().any(|c| c == Component::ParentDir) {
            return Err(unsafe_entry("it contains `..`".into()));
        }
        let rel = contained(&raw).map_err(|w| unsafe_entry(w.into()))?;
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        // Never write through a symlink an earlier entry created.
        let mut anc = dest.to_path_buf();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            anc.push(c);
            if fs::symlink_metadata(&anc).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(unsafe_entry(format!(
                    "it passes through the symlink `{}`",
                    anc.display()
                )));
            }
        }
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(io_err(format!("reading the link of {shown}")))?
                    .ok_or_else(|| unsafe_entry("symlink without a target".into()))?;
                if link.is_absolute() {
                    return Err(unsafe_entry(format!(
                        "symlink to the absolute path `{}`",
                        link.display()
                    )));
                }
                let base = rel.parent().unwrap_or(Path::new(""));
                contained(&base.join(&link)).map_err(|_| {
                    unsafe_entry(format!(
                        "symlink to `{}` escapes the target",
                        link.display()
                    ))
                })?;
                stats.symlinks += 1;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(io_err(format!("reading the link of {shown}")))?
                    .ok_or_else(|| unsafe_entry("hard link without a target".into()))?;
                if link.is_absolute() || link.components().any(|c| c == Component::ParentDir) {
                    return Err(unsafe_entry(format!(
                        "hard link to `{}` escapes the target",
                        link.display()
                    )));
                }
                stats.hardlinks += 1;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                stats.files += 1;
                stats.bytes += entry.size();
            }
            tar::EntryType::Directory => stats.dirs += 1,
            other => {
                return Err(ArchiveError::Unsupported {
                    archive: name.to_owned(),
                    entry: shown,
                    kind: format!("{other:?}"),
                })
            }
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        // `unpack_in` repeats tar's own containment checks on top of ours.
        let ok = entry
            .unpack_in(dest)
            .map_err(io_err(format!("unpacking {shown}")))?;
        if !ok {
            return Err(unsafe_entry("tar refused it as outside the target".into()));
        }
    }
    Ok(stats)
}
