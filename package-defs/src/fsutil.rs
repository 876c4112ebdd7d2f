//! The one directory walker of source and build trees (prepare's working copy, the build
//! cache, the bundle's archive, the vm build's file checks, the build tree's links):
//! `walkdir`, in name order, never following a symlink, so links stay links everywhere.
//! `txn` keeps its own: it fsyncs each file and refuses anything but plain files in a
//! definitions folder.

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

/// Everything under `root` (not `root` itself), a folder before what it holds, siblings in
/// name order (so archives and manifests do not depend on the file system's order); symlinks
/// are entries, never followed.
pub(crate) fn walk(root: &Path) -> impl Iterator<Item = Result<walkdir::DirEntry, PathError>> {
    let root_path = root.to_path_buf();
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .map(move |e| {
            e.map_err(|e| PathError {
                path: e
                    .path()
                    .map_or_else(|| root_path.clone(), Path::to_path_buf),
                what: "read",
                source: e.into_io_error().unwrap_or_else(|| {
                    std::io::Error::other("a symlink loop (links are not followed: a bug)")
                }),
            })
        })
}

/// `entry`'s path below `root`.
pub(crate) fn relative<'a>(root: &Path, entry: &'a walkdir::DirEntry) -> &'a Path {
    entry.path().strip_prefix(root).unwrap_or(entry.path())
}

/// Copies `from` into `to` (created if needed), keeping symlinks as links (Xen's tree has
/// relative ones that must not be followed) and the permission bits (scripts stay executable).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), PathError> {
    std::fs::create_dir_all(to).map_err(at(to, "create"))?;
    for e in walk(from) {
        let e = e?;
        let (src, dst) = (e.path(), to.join(relative(from, &e)));
        let ft = e.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(src).map_err(at(src, "read link"))?;
            std::os::unix::fs::symlink(target, &dst).map_err(at(&dst, "create link"))?;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst).map_err(at(&dst, "create"))?;
        } else {
            std::fs::copy(src, &dst).map_err(at(src, "copy"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copy_keeps_links_modes_and_nesting_and_walks_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("from");
        std::fs::create_dir_all(from.join("b/deep")).unwrap();
        std::fs::write(from.join("b/deep/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            from.join("b/deep/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(from.join("a"), "a").unwrap();
        std::os::unix::fs::symlink("b/deep/run.sh", from.join("c")).unwrap();
        // A link to a folder is an entry, not a way into the folder.
        std::os::unix::fs::symlink("b", from.join("d")).unwrap();
        let names: Vec<String> = walk(&from)
            .map(|e| relative(&from, &e.unwrap()).display().to_string())
            .collect();
        assert_eq!(names, ["a", "b", "b/deep", "b/deep/run.sh", "c", "d"]);

        let to = d.path().join("to/copy");
        copy_tree(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("a")).unwrap(), "a");
        assert_eq!(
            std::fs::read_link(to.join("c")).unwrap(),
            Path::new("b/deep/run.sh")
        );
        assert_eq!(std::fs::read_link(to.join("d")).unwrap(), Path::new("b"));
        let mode = std::fs::metadata(to.join("b/deep/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn an_unreadable_folder_is_named_in_the_error() {
        let d = tempfile::tempdir().unwrap();
        let e = copy_tree(&d.path().join("missing"), &d.path().join("to")).unwrap_err();
        assert_eq!(e.path, d.path().join("missing"));
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
    }
}
