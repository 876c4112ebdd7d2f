//! `bundle`: a vm build (`build --mode vm`) and the `xs` tool packed as one reproducible
//! tarball that unpacks into `/` (or any root) of a template of any distribution.
//!
//! Everything lands under `opt/qubes-xen/<version>-<rel>/` (`lib/`, `lib/pkgconfig/`,
//! `include/`, `bin/xs`, `share/qubes-xen/{manifest.json,SHA256SUMS,uninstall.list}`) plus the
//! relative link `opt/qubes-xen/current`, so nothing of the distribution's is overwritten.
//! Entries are sorted, owned by 0:0, dated `SOURCE_DATE_EPOCH`, and gzip carries no
//! timestamp: the same build and `xs` give the same bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::build::{self, InputPins, Mode, PREFIX_ROOT};

/// Folder (under the prefix) of the bundle's own files.
pub const SHARE: &str = "share/qubes-xen";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error("{}: {found}; expected {expected}", path.display())]
    Unexpected {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{}: already exists; remove it or pass --replace", path.display())]
    Exists { path: PathBuf },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> BundleError + 'a {
    move |source| BundleError::Io {
        path: path.into(),
        what,
        source,
    }
}

/// `share/qubes-xen/manifest.json`: what the bundle holds and what it was built from.
#[derive(Debug, Clone, Serialize)]
pub struct BundleManifest {
    pub package: String,
    /// `VERSION-REL`.
    pub version: String,
    pub prefix: String,
    pub source_date_epoch: i64,
    /// The vm build's cache key (sha256 of its inputs, environment and toolchain).
    pub build_key: String,
    pub libraries: Vec<String>,
    /// Qubes tag and commit, upstream tag and commit, the VM series, configure flags.
    pub pins: InputPins,
    pub toolchain: BTreeMap<String, String>,
    /// Every regular file (relative to the prefix) but this manifest and SHA256SUMS -> sha256.
    pub files: BTreeMap<String, String>,
    /// Every symlink (relative to the prefix) -> its target.
    pub links: BTreeMap<String, String>,
    /// Qubes' components built into the prefix (`build COMPONENT`): tag, commit, NAR each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<crate::build::guest::GuestPin>,
}

/// What `bundle` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub file: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    pub prefix: String,
    pub version: String,
    /// Tar entries (folders, files, links).
    pub entries: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File { data: Vec<u8>, exec: bool },
    Link(String),
}

/// Checks that an archive path stays inside the unpack root: relative, no `.`/`..`.
fn safe_path(p: &str) -> Result<(), BundleError> {
    let path = Path::new(p.trim_end_matches('/'));
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.trim_end_matches('/').contains("//")
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(BundleError::Unexpected {
            path: p.into(),
            found: "an archive path that is absolute or has `.`/`..`".into(),
            expected: "a path below the unpack root".into(),
        })
    }
}

/// A link target must stay in the link's folder tree: relative, no `..`.
fn safe_target(link: &str, target: &str) -> Result<(), BundleError> {
    let ok = !target.is_empty()
        && !target.starts_with('/')
        && Path::new(target)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(BundleError::Unexpected {
            path: link.into(),
            found: format!("a link to `{target}`"),
            expected: "a relative link without `..`".into(),
        })
    }
}

/// Adds `dir` (recursively) under the archive path `base` (ending in `/`).
fn add_tree(dir: &Path, base: &str, out: &mut BTreeMap<String, Kind>) -> Result<(), BundleError> {
    for e in crate::fsutil::walk(dir) {
        let e = e.map_err(|e| BundleError::Io {
            path: e.path,
            what: e.what,
            source: e.source,
        })?;
        let p = e.path();
        let at = format!(
            "{base}{}",
            crate::fsutil::relative(dir, &e).to_string_lossy()
        );
        let ft = e.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(p).map_err(io(p, "read link"))?;
            let t = t.to_string_lossy().into_owned();
            safe_target(&at, &t)?;
            out.insert(at, Kind::Link(t));
        } else if ft.is_dir() {
            out.insert(format!("{at}/"), Kind::Dir);
        } else if ft.is_file() {
            let data = std::fs::read(p).map_err(io(p, "read"))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &e.metadata()
                    .map_err(|e| io(p, "stat")(e.into()))?
                    .permissions(),
            );
            out.insert(
                at,
                Kind::File {
                    data,
                    exec: mode & 0o111 != 0,
                },
            );
        } else {
            return Err(BundleError::Unexpected {
                path: p.into(),
                found: "a special file".into(),
                expected: "files, folders and links".into(),
            });
        }
    }
    Ok(())
}

fn sha256(data: &[u8]) -> String {
    content_hash::Sha256Digest::of_bytes(data).to_hex()
}

/// The tarball's bytes and its manifest, for the vm build in `build_dir` and the `xs` binary.
pub fn archive(build_dir: &Path, xs: &Path) -> Result<(Vec<u8>, BundleManifest), BundleError> {
    archive_with(build_dir, xs, None)
}

/// [`archive`], with the guest build of Qubes' components in `guest` (`build COMPONENT`'s
/// output, made against this vm build) added under the same prefix.
pub fn archive_with(
    build_dir: &Path,
    xs: &Path,
    guest: Option<&Path>,
) -> Result<(Vec<u8>, BundleManifest), BundleError> {
    let m = build::read_manifest(build_dir)?;
    let mpath = build_dir.join("manifest.json");
    let prefix = match (&m.mode, &m.prefix) {
        (Mode::Vm, Some(p)) => p.clone(),
        _ => {
            return Err(BundleError::Unexpected {
                path: mpath,
                found: format!("a {:?} build", m.mode).to_lowercase(),
                expected: "a vm build (`package-defs build PACKAGE --mode vm`)".into(),
            })
        }
    };
    let version = prefix
        .strip_prefix(PREFIX_ROOT)
        .and_then(|v| v.strip_prefix('/'))
        .filter(|v| !v.is_empty() && !v.contains('/'))
        .ok_or_else(|| BundleError::Unexpected {
            path: mpath.clone(),
            found: format!("prefix `{prefix}`"),
            expected: format!("{PREFIX_ROOT}/<version>-<rel>"),
        })?
        .to_string();
    let rel_prefix = format!("{}/", prefix.trim_start_matches('/'));
    let src = build_dir.join("install").join(&rel_prefix);
    if !src.is_dir() {
        return Err(BundleError::Unexpected {
            path: src,
            found: "no such folder".into(),
            expected: "the vm build's installed prefix".into(),
        });
    }

    let mut entries = BTreeMap::new();
    let mut at = String::new();
    for part in rel_prefix.trim_end_matches('/').split('/') {
        at.push_str(part);
        at.push('/');
        entries.insert(at.clone(), Kind::Dir);
    }
    add_tree(&src, &rel_prefix, &mut entries)?;
    let mut components = Vec::new();
    if let Some(g) = guest {
        let gpath = g.join("manifest.json");
        let text = std::fs::read_to_string(&gpath).map_err(io(&gpath, "read"))?;
        let gm: crate::build::guest::GuestManifest =
            serde_json::from_str(&text).map_err(|e| BundleError::Unexpected {
                path: gpath.clone(),
                found: format!("not a guest build manifest ({e})"),
                expected: "the manifest.json of `package-defs build COMPONENT`".into(),
            })?;
        if gm.prefix != prefix || gm.xen_vm_build != m.key {
            return Err(BundleError::Unexpected {
                path: gpath,
                found: format!(
                    "a guest build for {} (vm build {})",
                    gm.prefix, gm.xen_vm_build
                ),
                expected: format!("one made against this vm build ({prefix}, {})", m.key),
            });
        }
        let mut more = BTreeMap::new();
        add_tree(&g.join("install").join(&rel_prefix), &rel_prefix, &mut more)?;
        for (p, k) in more {
            match (entries.get(&p), &k) {
                (Some(Kind::Dir), Kind::Dir) | (None, _) => {
                    entries.insert(p, k);
                }
                _ => {
                    return Err(BundleError::Unexpected {
                        path: g.join("install").join(&p),
                        found: "a file Xen's vm build also installs".into(),
                        expected: "components that add files beside Xen's".into(),
                    })
                }
            }
        }
        components = gm.components;
    }

    let xs_data = std::fs::read(xs).map_err(io(xs, "read"))?;
    if !xs_data.starts_with(b"\x7fELF") {
        return Err(BundleError::Unexpected {
            path: xs.into(),
            found: "not an ELF file".into(),
            expected: "the `xs` program (cargo build -p xenstore-client --features cli)".into(),
        });
    }
    for d in ["bin/", "share/", "share/qubes-xen/"] {
        entries.insert(format!("{rel_prefix}{d}"), Kind::Dir);
    }
    entries.insert(
        format!("{rel_prefix}bin/xs"),
        Kind::File {
            data: xs_data,
            exec: true,
        },
    );

    // The uninstall list: files and links, `current` only while it points here, then the
    // folders deepest first (removed when empty).
    let share = format!("{rel_prefix}{SHARE}/");
    let own = |name: &str| format!("{share}{name}");
    let current = format!("{}/current", PREFIX_ROOT.trim_start_matches('/'));
    let mut uninstall: Vec<String> = entries
        .iter()
        .filter(|(_, k)| !matches!(k, Kind::Dir))
        .map(|(p, _)| p.clone())
        .chain(
            ["manifest.json", "SHA256SUMS", "uninstall.list"]
                .iter()
                .map(|n| own(n)),
        )
        .collect();
    uninstall.sort();
    uninstall.push(format!("{current} -> {version}"));
    // Only the bundle's own folders: `opt/` is the system's (FHS), often there and empty
    // before the bundle, and no business of its uninstall even when unpacking made it.
    let own_root = format!("{}/", PREFIX_ROOT.trim_start_matches('/'));
    let mut dirs: Vec<&String> = entries
        .iter()
        .filter(|(p, k)| matches!(k, Kind::Dir) && p.starts_with(&own_root))
        .map(|(p, _)| p)
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    uninstall.extend(dirs.into_iter().cloned());
    let uninstall_text = uninstall.join("\n") + "\n";
    entries.insert(
        own("uninstall.list"),
        Kind::File {
            data: uninstall_text.into_bytes(),
            exec: false,
        },
    );

    let (mut files, mut links) = (BTreeMap::new(), BTreeMap::new());
    for (p, k) in &entries {
        let Some(inside) = p.strip_prefix(&rel_prefix) else {
            continue;
        };
        match k {
            Kind::File { data, .. } => {
                files.insert(inside.to_string(), sha256(data));
            }
            Kind::Link(t) => {
                links.insert(inside.to_string(), t.clone());
            }
            Kind::Dir => {}
        }
    }
    let manifest = BundleManifest {
        package: m.package.clone(),
        version: m.version.clone(),
        prefix: prefix.clone(),
        source_date_epoch: m.environment.source_date_epoch,
        build_key: m.key.clone(),
        libraries: m.libraries.clone(),
        pins: m.inputs.clone(),
        toolchain: m.toolchain.clone(),
        files,
        links,
        components,
    };
    let manifest_text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    let mut sums: String = manifest
        .files
        .iter()
        .map(|(p, h)| format!("{h}  {p}\n"))
        .collect();
    sums.push_str(&format!(
        "{}  {SHARE}/manifest.json\n",
        sha256(manifest_text.as_bytes())
    ));
    entries.insert(
        own("manifest.json"),
        Kind::File {
            data: manifest_text.into_bytes(),
            exec: false,
        },
    );
    entries.insert(
        own("SHA256SUMS"),
        Kind::File {
            data: sums.into_bytes(),
            exec: false,
        },
    );
    safe_target(&current, &version)?;
    entries.insert(current, Kind::Link(version));

    let bytes = pack(&entries, m.environment.source_date_epoch)
        .map_err(io(Path::new("(bundle)"), "write the tarball"))?;
    Ok((bytes, manifest))
}

/// The gzip'd tar of `entries` in path order: 0:0, `epoch` as every mtime, no gzip timestamp.
fn pack(entries: &BTreeMap<String, Kind>, epoch: i64) -> std::io::Result<Vec<u8>> {
    for p in entries.keys() {
        safe_path(p).map_err(std::io::Error::other)?;
    }
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mtime = u64::try_from(epoch).unwrap_or(0);
    for (path, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root")?;
        h.set_groupname("root")?;
        h.set_mtime(mtime);
        match kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, path, std::io::empty())?;
            }
            Kind::File { data, exec } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if *exec { 0o755 } else { 0o644 });
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, path, data.as_slice())?;
            }
            Kind::Link(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                tar.append_link(&mut h, path, target)?;
            }
        }
    }
    tar.into_inner()?.finish()
}

/// Writes the bundle of `build_dir` (a vm build) and `xs` to `dest` (temp file + rename).
pub fn write(
    build_dir: &Path,
    xs: &Path,
    dest: &Path,
    replace: bool,
) -> Result<BundleReport, BundleError> {
    write_with(build_dir, xs, None, dest, replace)
}

/// [`write`], with Qubes' components of the guest build `guest` (see [`archive_with`]).
pub fn write_with(
    build_dir: &Path,
    xs: &Path,
    guest: Option<&Path>,
    dest: &Path,
    replace: bool,
) -> Result<BundleReport, BundleError> {
    if dest.exists() && !replace {
        return Err(BundleError::Exists { path: dest.into() });
    }
    let (bytes, manifest) = archive_with(build_dir, xs, guest)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp, "create"))?;
        f.write_all(&bytes).map_err(io(&tmp, "write"))?;
        f.sync_all().map_err(io(&tmp, "write"))?;
        std::fs::rename(&tmp, dest).map_err(io(dest, "move into place"))
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r?;
    let entries = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()))
        .entries()
        .map_err(io(dest, "read back"))?
        .count();
    Ok(BundleReport {
        file: dest.into(),
        sha256: sha256(&bytes),
        bytes: bytes.len() as u64,
        prefix: manifest.prefix,
        version: manifest.version,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_and_link_targets_never_escape() {
        assert!(safe_path("opt/qubes-xen/4.17.6-6/lib/").is_ok());
        for bad in ["/opt/x", "opt/../etc/passwd", "./opt", "", "opt//x"] {
            assert!(safe_path(bad).is_err(), "{bad}");
        }
        assert!(safe_target("opt/qubes-xen/current", "4.17.6-6").is_ok());
        for bad in ["/usr/lib/libxenvchan.so", "../../etc", ""] {
            let e = safe_target("l", bad).unwrap_err().to_string();
            assert!(e.starts_with("l: a link to"), "{e}");
        }
    }

    #[test]
    fn entries_are_sorted_owned_by_root_and_dated_by_the_epoch() {
        let mut e = BTreeMap::new();
        e.insert("opt/".to_string(), Kind::Dir);
        e.insert(
            "opt/b".to_string(),
            Kind::File {
                data: b"b".to_vec(),
                exec: true,
            },
        );
        e.insert("opt/a".to_string(), Kind::Link("b".into()));
        let bytes = pack(&e, 1781006553).unwrap();
        assert_eq!(bytes, pack(&e, 1781006553).unwrap());
        // gzip: no timestamp (bytes 4..8), OS byte fixed.
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let got: Vec<(String, u64, u64, u64, u32)> = a
            .entries()
            .unwrap()
            .map(|x| {
                let x = x.unwrap();
                let h = x.header();
                (
                    x.path().unwrap().to_string_lossy().into_owned(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("opt/".into(), 0, 0, 1781006553, 0o755),
                ("opt/a".into(), 0, 0, 1781006553, 0o777),
                ("opt/b".into(), 0, 0, 1781006553, 0o755),
            ]
        );
        let mut bad = e.clone();
        bad.insert("../x".into(), Kind::Dir);
        assert!(pack(&bad, 0).is_err());
    }
}
