//! The root tree: unpacking a tarball safely, walking the tree once to size it, check
//! `/sbin/init`, and list every entry for the ownership/timestamp fix-up.

use crate::error::{ImageError, Result};
use crate::spec::RootContent;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// One entry of the tree, relative to its root (`""` is the root itself).
#[derive(Debug, Clone)]
pub struct Entry {
    pub rel: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

/// A scanned tree ready to be written into a filesystem.
#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    pub entries: Vec<Entry>,
    /// Bytes the content occupies in 4 KiB blocks, plus one block per inode for metadata.
    pub content_bytes: u64,
    /// Keeps an unpacked tarball alive until the build ends.
    _unpacked: Option<tempfile::TempDir>,
}

/// Makes the root content available as a directory (unpacking a tarball into `scratch`),
/// with the `add` tarballs unpacked over it in order. A root directory that gets additions is
/// copied into `scratch` first: the caller's tree is never changed.
pub fn prepare(root: &RootContent, add: &[PathBuf], scratch: &Path) -> Result<Tree> {
    let into_scratch = || {
        tempfile::Builder::new()
            .prefix("rootfs.")
            .tempdir_in(scratch)
            .map_err(ImageError::io(scratch))
    };
    let tmp = match root {
        RootContent::Directory(dir) => {
            let meta = std::fs::metadata(dir).map_err(|e| ImageError::Content {
                path: dir.clone(),
                message: format!("root directory: {e}. Fix: point `root.directory` at the tree"),
            })?;
            if !meta.is_dir() {
                return Err(ImageError::Content {
                    path: dir.clone(),
                    message: "`root.directory` is not a directory".into(),
                });
            }
            if add.is_empty() {
                return scan(dir.clone(), None);
            }
            let tmp = into_scratch()?;
            copy_tree(dir, tmp.path())?;
            tmp
        }
        RootContent::Tarball(tarball) => {
            let tmp = into_scratch()?;
            unpack(tarball, tmp.path())?;
            tmp
        }
    };
    for a in add {
        unpack(a, tmp.path())?;
    }
    scan(tmp.path().to_path_buf(), Some(tmp))
}

/// Copies a root tree: folders, files (with their permission bits) and links as links.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for item in walkdir::WalkDir::new(from).sort_by_file_name() {
        let item = item.map_err(|e| ImageError::Content {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| from.to_path_buf()),
            message: format!("cannot read the tree: {e}"),
        })?;
        let rel = item.path().strip_prefix(from).unwrap_or(item.path());
        let dst = to.join(rel);
        let ft = item.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(ImageError::io(item.path()))?;
            std::os::unix::fs::symlink(target, &dst).map_err(ImageError::io(&dst))?;
        } else if ft.is_dir() {
            std::fs::create_dir_all(&dst).map_err(ImageError::io(&dst))?;
            let perm = item
                .metadata()
                .map_err(|e| ImageError::Content {
                    path: item.path().to_path_buf(),
                    message: format!("cannot stat: {e}"),
                })?
                .permissions();
            std::fs::set_permissions(&dst, perm).map_err(ImageError::io(&dst))?;
        } else if ft.is_file() {
            std::fs::copy(item.path(), &dst).map_err(ImageError::io(item.path()))?;
        } else {
            return Err(ImageError::Content {
                path: item.path().to_path_buf(),
                message: "a device node, FIFO or socket in a root that gets `add` tarballs cannot be copied without root; let devtmpfs provide /dev".into(),
            });
        }
    }
    Ok(())
}

/// Unpacks a plain or gzip tarball, refusing entries that would land outside `dest`.
pub fn unpack(tarball: &Path, dest: &Path) -> Result<()> {
    let bad = |message: String| ImageError::Content {
        path: tarball.to_path_buf(),
        message,
    };
    let mut file = File::open(tarball).map_err(|e| bad(format!("cannot open tarball: {e}")))?;
    let mut magic = [0u8; 2];
    let n = file
        .read(&mut magic)
        .map_err(|e| bad(format!("cannot read tarball: {e}")))?;
    let file = File::open(tarball).map_err(|e| bad(format!("cannot open tarball: {e}")))?;
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(false);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt tar entry: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("bad entry name: {e}")))?
            .into_owned();
        if path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        }) {
            return Err(bad(format!(
                "entry `{}` escapes the root; refusing to unpack it. Fix: build the tarball with paths relative to the root",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            tracing::warn!(entry = %path.display(), "skipping device node/FIFO: they cannot be created without root; let devtmpfs provide /dev");
            continue;
        }
        // unpack_in re-checks the path and refuses links pointing out of `dest`.
        let ok = entry
            .unpack_in(dest)
            .map_err(|e| bad(format!("cannot unpack `{}`: {e}", path.display())))?;
        if !ok {
            return Err(bad(format!(
                "entry `{}` escapes the root; refusing to unpack it",
                path.display()
            )));
        }
    }
    Ok(())
}

fn scan(dir: PathBuf, unpacked: Option<tempfile::TempDir>) -> Result<Tree> {
    let init = dir.join("sbin/init");
    // A symlink (often to ../lib/systemd/systemd or an absolute store path) counts: it resolves
    // inside the guest, not on the build host.
    if std::fs::symlink_metadata(&init).is_err() {
        return Err(ImageError::MissingInit { path: dir });
    }
    let mut entries = Vec::new();
    let mut content_bytes = 0u64;
    for item in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let item = item.map_err(|e| ImageError::Content {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone()),
            message: format!("cannot read the tree: {e}"),
        })?;
        let meta = item.metadata().map_err(|e| ImageError::Content {
            path: item.path().to_path_buf(),
            message: format!("cannot stat: {e}"),
        })?;
        let rel = item
            .path()
            .strip_prefix(&dir)
            .unwrap_or(item.path())
            .to_path_buf();
        if let Some(s) = rel.to_str() {
            if s.contains(['"', '\n']) {
                return Err(ImageError::Content {
                    path: item.path().to_path_buf(),
                    message: "file names with double quotes or newlines are not supported".into(),
                });
            }
        } else {
            return Err(ImageError::Content {
                path: item.path().to_path_buf(),
                message: "file name is not UTF-8".into(),
            });
        }
        content_bytes += crate::size::round_up(meta.len(), 4096) + 4096;
        entries.push(Entry {
            rel,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
        });
    }
    Ok(Tree {
        dir,
        entries,
        content_bytes,
        _unpacked: unpacked,
    })
}
