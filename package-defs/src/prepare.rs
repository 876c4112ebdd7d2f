//! `prepare`: a patched, configured Xen source tree in `vendor/<package>-<version>-<rel>/`.
//!
//! The series is applied with `patch -p1 --fuzz=0` in spec order, as Qubes' rpm build does
//! (`%autosetup -p1`, rpm's default patch fuzz is 0), so a tree prepared here matches the one
//! Qubes builds; `git apply` would differ on patches without git headers. Every
//! patch and the config are checked against their pinned sha256 before use. The tree is built
//! in a sibling temp folder and renamed into place, so a failure leaves no half-patched tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model::{DataDef, Package};

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{}: sha256 is {found}, but the definition pins {pinned}; the data does not match the pins", path.display())]
    Hash {
        path: PathBuf,
        pinned: String,
        found: String,
    },
    #[error("patch {number:04} {file} does not apply (patch -p1):\n{output}")]
    Patch {
        number: u32,
        file: String,
        output: String,
    },
    #[error("{}: already exists; remove it to prepare again", path.display())]
    Exists { path: PathBuf },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> PrepareError + 'a {
    move |source| PrepareError::Io {
        path: path.into(),
        what,
        source,
    }
}

/// Copies a tree, keeping symlinks as links and the executable bits.
fn copy_tree(from: &Path, to: &Path) -> Result<(), PrepareError> {
    std::fs::create_dir_all(to).map_err(io(to, "create"))?;
    for e in std::fs::read_dir(from).map_err(io(from, "read"))? {
        let e = e.map_err(io(from, "read"))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().map_err(io(&src, "stat"))?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(&src, "read link"))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst, "create link"))?;
        } else if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(&src, "copy"))?;
        }
    }
    Ok(())
}

fn check_sha(path: &Path, pinned: &str) -> Result<(), PrepareError> {
    let (d, _) = content_hash::hash_file(path).map_err(io(path, "hash"))?;
    if d.to_hex() != pinned {
        return Err(PrepareError::Hash {
            path: path.into(),
            pinned: pinned.into(),
            found: d.to_hex(),
        });
    }
    Ok(())
}

/// Folder name of a prepared tree.
pub fn tree_name(pkg: &Package) -> String {
    format!("{}-{}", pkg.name, pkg.version)
}

/// Builds `<vendor>/<package>-<version>-<rel>` from verified trees; returns its path.
pub fn prepare(
    pkg: &Package,
    data: &DataDef,
    qubes_dir: &Path,
    upstream_dir: &Path,
    vendor: &Path,
) -> Result<PathBuf, PrepareError> {
    let out = vendor.join(tree_name(pkg));
    if out.exists() {
        return Err(PrepareError::Exists { path: out });
    }
    for p in &data.patches {
        check_sha(&qubes_dir.join(&p.file), &p.sha256)?;
    }
    let config = qubes_dir.join(&data.config.file);
    check_sha(&config, &data.config.sha256)?;

    std::fs::create_dir_all(vendor).map_err(io(vendor, "create"))?;
    let tmp = vendor.join(format!(".{}.partial", tree_name(pkg)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp, "remove a stale partial tree"))?;
    }
    let result = (|| {
        copy_tree(upstream_dir, &tmp)?;
        for p in &data.patches {
            let file = qubes_dir.join(&p.file);
            let o = Command::new("patch")
                .args([
                    "-p1",
                    "--fuzz=0",
                    "--forward",
                    "--batch",
                    "--no-backup-if-mismatch",
                    "-s",
                    "-i",
                ])
                .arg(&file)
                .current_dir(&tmp)
                .output()
                .map_err(io(Path::new("patch"), "run (is GNU patch installed?)"))?;
            if !o.status.success() {
                let output = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                return Err(PrepareError::Patch {
                    number: p.number,
                    file: p.file.clone(),
                    output,
                });
            }
        }
        let dot = tmp.join("xen/.config");
        std::fs::create_dir_all(tmp.join("xen")).map_err(io(&tmp, "create xen/"))?;
        std::fs::copy(&config, &dot).map_err(io(&dot, "install config"))?;
        std::fs::rename(&tmp, &out).map_err(io(&out, "move into place"))?;
        Ok(out.clone())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
