//! Copying source and build trees (prepare's working copy, the build cache): one walker for
//! both, so symlinks stay links everywhere. `txn` keeps its own: it fsyncs each file and
//! refuses anything but plain files in a definitions folder.

use std::path::{Path, PathBuf};

/// An I/O failure on one path, turned into each caller's own error type.
#[derive(Debug)]
pub(crate) struct PathError {
    pub path: PathBuf,
    pub what: &'static str,
    pub source: std::io::Error,
}

fn at<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> PathError + 'a {
    move |source| PathError {
        path: path.into(),
        what,
        source,
    }
}

/// Copies `from` into `to` (created if needed), keeping symlinks as links (Xen's tree has
/// relative ones that must not be followed) and the permission bits (scripts stay executable).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), PathError> {
    std::fs::create_dir_all(to).map_err(at(to, "create"))?;
    for e in std::fs::read_dir(from).map_err(at(from, "read"))? {
        let e = e.map_err(at(from, "read"))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().map_err(at(&src, "stat"))?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).map_err(at(&src, "read link"))?;
            std::os::unix::fs::symlink(target, &dst).map_err(at(&dst, "create link"))?;
        } else if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(at(&src, "copy"))?;
        }
    }
    Ok(())
}
