//! Planning an update: from fetched, verified trees to new pins, file edits and a report.
//!
//! Fetching and signature checks happen before (see `fetch`); this module only reads trees,
//! hashes them with `content-hash`, and decides what changes, so it never touches the network.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edit::{self, DataPins, XenPins};
use crate::kconfig::{self, SymbolChange};
use crate::model::{Body, DataDef, Definitions, Package, PatchPin, XenDef};
use crate::spec::{self, QubesTree};
use crate::txn::FileChange;
use crate::version::QubesVersion;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("unknown package '{name}'; known: {known}")]
    UnknownPackage { name: String, known: String },
    #[error("{path}: {name}'s [stream] pins commit {commit} of an unmerged branch of {repo}, which has no signed `v<version>-<rel>` tags to move to; move it to another commit with `package-defs update {name} --commit <40-hex commit>`, or follow Qubes' tagged releases by replacing `commit = \"...\"` with `branch = \"<branch>\"` in [stream]")]
    CommitPinnedStream {
        path: String,
        name: String,
        commit: String,
        repo: String,
    },
    #[error("{path}: {name} follows the signed tags of branch {branch}; `--commit` is only for a stream pinned to a commit of an unmerged branch (`commit = \"...\"` in [stream]); give VERSION-REL instead")]
    NotCommitPinned {
        path: String,
        name: String,
        branch: String,
    },
    #[error("--commit {0:?}: expected a full commit id, 40 lowercase hex digits")]
    BadCommit(String),
    #[error("{name}: commit {commit} is already pinned; nothing to do (--repin fetches it again)")]
    CommitAlreadyPinned { name: String, commit: String },
    #[error("commit {commit} holds version {found} in its `version`/`rel` files, not the {expected} asked for")]
    CommitMismatch {
        commit: String,
        found: QubesVersion,
        expected: QubesVersion,
    },
    #[error("'{name}' is a data package; update the xen package that uses it ({users})")]
    DataPackage { name: String, users: String },
    #[error(
        "{name}: {target} is older than the pinned {current}; pass --allow-downgrade to go back"
    )]
    Downgrade {
        name: String,
        current: QubesVersion,
        target: QubesVersion,
    },
    #[error("{name}: {target} is already pinned; nothing to do (--repin fetches it again)")]
    AlreadyPinned { name: String, target: QubesVersion },
    #[error("{name}: {target} belongs to Xen {series}, but this stream follows Xen {stream} (`stream.xen_series`); pass --allow-stream to move streams")]
    OtherStream {
        name: String,
        target: QubesVersion,
        series: String,
        stream: String,
    },
    #[error("the tag {tag} holds version {found} in its `version`/`rel` files, not {expected}")]
    TagMismatch {
        tag: String,
        found: QubesVersion,
        expected: QubesVersion,
    },
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("{}: {message}", path.display())]
    Tree { path: PathBuf, message: String },
    #[error(transparent)]
    Edit(#[from] edit::EditError),
    #[error("the rewritten definitions do not validate (a bug): {0}")]
    Invalid(#[from] crate::load::LoadError),
}

impl UpdateError {
    /// The version or commit asked for is the one pinned: nothing to do.
    pub fn is_already_pinned(&self) -> bool {
        matches!(
            self,
            Self::AlreadyPinned { .. } | Self::CommitAlreadyPinned { .. }
        )
    }
}

/// Options of `update` that relax the safety checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    pub downgrade: bool,
    pub stream: bool,
    /// Fetch, verify and pin the version that is already pinned again (after switching
    /// `upstream.origin`, or to fill pins left unpinned).
    pub repin: bool,
}

/// The xen package and its data package, resolved from the definitions.
pub struct Target<'a> {
    pub xen_pkg: &'a Package,
    pub xen: &'a XenDef,
    pub data_pkg: &'a Package,
    pub data: &'a DataDef,
    pub version: QubesVersion,
    /// For a stream pinned to a commit of an unmerged branch: the commit to move to (its
    /// data is pinned by id, without a tag).
    pub commit: Option<String>,
}

/// Resolves `name` and checks the requested version against the stream and the current pin.
pub fn resolve<'a>(
    defs: &'a Definitions,
    name: &str,
    version: QubesVersion,
    allow: Allow,
) -> Result<Target<'a>, UpdateError> {
    resolve_ref(defs, name, version, None, allow)
}

/// For a stream pinned to a commit of an unmerged branch: resolves `name` for a move to
/// `commit`, whose `version`/`rel` files say `version` (see `fetch::version_at_commit`).
pub fn resolve_commit<'a>(
    defs: &'a Definitions,
    name: &str,
    commit: &str,
    version: QubesVersion,
    allow: Allow,
) -> Result<Target<'a>, UpdateError> {
    if crate::load::check_commit(commit).is_err() {
        return Err(UpdateError::BadCommit(commit.into()));
    }
    resolve_ref(defs, name, version, Some(commit), allow)
}

/// The xen package `name` if `--commit commit` can apply to it (its stream is pinned to a
/// commit, and `commit` is a full id): checked before anything is fetched.
pub fn commit_stream<'a>(
    defs: &'a Definitions,
    name: &str,
    commit: &str,
) -> Result<&'a XenDef, UpdateError> {
    let (pkg, xen) = xen_package(defs, name)?;
    if let crate::model::StreamRef::Branch(branch) = &xen.stream.reference {
        return Err(UpdateError::NotCommitPinned {
            path: pkg.path.display().to_string(),
            name: name.into(),
            branch: branch.clone(),
        });
    }
    if crate::load::check_commit(commit).is_err() {
        return Err(UpdateError::BadCommit(commit.into()));
    }
    Ok(xen)
}

/// The xen package `name`, for errors before anything is fetched.
pub fn xen_package<'a>(
    defs: &'a Definitions,
    name: &str,
) -> Result<(&'a Package, &'a XenDef), UpdateError> {
    let pkg = defs.get(name).ok_or_else(|| UpdateError::UnknownPackage {
        name: name.into(),
        known: defs.names().join(", "),
    })?;
    match &pkg.body {
        Body::Xen(x) => Ok((pkg, x)),
        Body::QubesData(_) => Err(UpdateError::DataPackage {
            name: name.into(),
            users: defs.data_users(name).join(", "),
        }),
    }
}

fn resolve_ref<'a>(
    defs: &'a Definitions,
    name: &str,
    version: QubesVersion,
    commit: Option<&str>,
    allow: Allow,
) -> Result<Target<'a>, UpdateError> {
    let (pkg, xen) = xen_package(defs, name)?;
    // The loader guarantees `data` names a qubes-data package.
    let data_pkg = defs
        .get(&xen.data)
        .ok_or_else(|| UpdateError::UnknownPackage {
            name: xen.data.clone(),
            known: defs.names().join(", "),
        })?;
    let data = data_pkg
        .as_data()
        .ok_or_else(|| UpdateError::UnknownPackage {
            name: xen.data.clone(),
            known: defs.names().join(", "),
        })?;
    // A commit of an unmerged branch has no `v<version>-<rel>` tag whose signature could be
    // checked: such a stream moves only to a commit a human names (`--commit`), and a tagged
    // stream only to tags.
    match (&xen.stream.reference, commit) {
        (crate::model::StreamRef::Commit(pinned), None) => {
            return Err(UpdateError::CommitPinnedStream {
                path: pkg.path.display().to_string(),
                name: name.into(),
                commit: pinned.clone(),
                repo: xen.stream.repo.clone(),
            });
        }
        (crate::model::StreamRef::Branch(branch), Some(_)) => {
            return Err(UpdateError::NotCommitPinned {
                path: pkg.path.display().to_string(),
                name: name.into(),
                branch: branch.clone(),
            });
        }
        (crate::model::StreamRef::Commit(pinned), Some(c)) if pinned == c && !allow.repin => {
            return Err(UpdateError::CommitAlreadyPinned {
                name: name.into(),
                commit: c.into(),
            });
        }
        _ => {}
    }
    let series = version.xen.series();
    if series != xen.stream.xen_series && !allow.stream {
        return Err(UpdateError::OtherStream {
            name: name.into(),
            target: version,
            series,
            stream: xen.stream.xen_series.clone(),
        });
    }
    // On an unmerged branch, new commits may keep the version: only the commit must move.
    if version == pkg.version && !allow.repin && commit.is_none() {
        return Err(UpdateError::AlreadyPinned {
            name: name.into(),
            target: version,
        });
    }
    if version < pkg.version && !allow.downgrade {
        return Err(UpdateError::Downgrade {
            name: name.into(),
            current: pkg.version.clone(),
            target: version,
        });
    }
    Ok(Target {
        xen_pkg: pkg,
        xen,
        data_pkg,
        data,
        version,
        commit: commit.map(str::to_string),
    })
}

/// The release tarball and signature URLs for the target version: the pinned ones with the
/// version replaced (mirrors keep their layout).
pub fn tarball_urls(t: &Target<'_>) -> (String, String) {
    let (old, new) = (t.xen_pkg.version.xen.to_string(), t.version.xen.to_string());
    let tb = &t.xen.upstream.tarball;
    (tb.url.replace(&old, &new), tb.sig_url.replace(&old, &new))
}

/// Verified inputs of an update (produced by `fetch`).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Qubes data tree at the new tag (exported, no `.git`).
    pub qubes_dir: PathBuf,
    pub qubes_commit: String,
    /// Qubes data tree at the currently pinned tag, for the config and flag diff, if available.
    pub old_qubes_dir: Option<PathBuf>,
    /// Upstream Xen tree at the new release (exported, no `.git`; or unpacked from the
    /// release tarball when that is the origin).
    pub upstream_dir: PathBuf,
    /// The signed release tag's commit; `None` when the tarball was the origin.
    pub upstream_commit: Option<String>,
    /// sha256 of the verified release tarball, when that origin was used.
    pub tarball_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Renamed {
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PatchReport {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    /// Same content under a new name (usually renumbered).
    pub renamed: Vec<Renamed>,
    /// Same name, new content.
    pub changed: Vec<String>,
    /// `*.patch` files in the tree that the spec does not list (ignored).
    pub unlisted: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityReport {
    /// Security (500–599) patches in the new series.
    pub in_series: Vec<String>,
    /// Security patches of the old series that the new one lacks (fine only when the new
    /// Xen release contains those fixes).
    pub dropped: Vec<String>,
    pub all_present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub package: String,
    pub data_package: String,
    pub version: Change<String>,
    /// `None` for data pinned by commit (a stream following an unmerged branch).
    pub qubes_tag: Change<Option<String>>,
    /// Whether the new Qubes data came with a signature that was checked (a signed tag); data
    /// at a commit of an unmerged branch has none.
    pub qubes_signed: bool,
    pub qubes_commit: Change<String>,
    pub upstream_tag: Change<String>,
    /// `git` or `tarball`: where upstream Xen was fetched from.
    pub upstream_origin: String,
    /// `"unpinned"` when the tarball is the origin (no git fetch).
    pub upstream_commit: Change<String>,
    pub patches: PatchReport,
    pub security: SecurityReport,
    pub config_sha256: Change<String>,
    /// Symbol-level diff; `None` when the old config was not available.
    pub config_changes: Option<Vec<SymbolChange>>,
    pub hv_abi: Change<String>,
    /// configure options in the spec that appeared/disappeared (review `configure_flags`).
    pub spec_configure_flags: Option<Change<Vec<String>>>,
    pub files: Vec<String>,
}

/// A planned update: the report and the exact file contents to write.
#[derive(Debug, Clone)]
pub struct Plan {
    pub report: Report,
    pub changes: Vec<FileChange>,
}

/// Range of Xen security (XSA) patch numbers in Qubes' series.
pub const SECURITY_RANGE: std::ops::Range<u32> = 500..600;

/// Reads `__XEN_LATEST_INTERFACE_VERSION__` from an upstream tree.
pub fn read_hv_abi(upstream: &Path) -> Result<String, UpdateError> {
    let path = upstream.join("xen/include/public/xen-compat.h");
    let text = std::fs::read_to_string(&path).map_err(|e| UpdateError::Tree {
        path: path.clone(),
        message: format!("cannot read ({e}); is this a Xen tree?"),
    })?;
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("#define __XEN_LATEST_INTERFACE_VERSION__")
        })
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| v.starts_with("0x"))
        .map(|v| {
            if v.len() < 10 {
                format!("0x{:0>8}", &v[2..])
            } else {
                v
            }
        })
        .ok_or_else(|| UpdateError::Tree {
            path,
            message: "no `#define __XEN_LATEST_INTERFACE_VERSION__ 0x...` line".into(),
        })
}

fn sha256_file(path: &Path) -> Result<String, UpdateError> {
    content_hash::hash_file(path)
        .map(|(d, _)| d.to_hex())
        .map_err(|e| UpdateError::Tree {
            path: path.into(),
            message: format!("cannot hash: {e}"),
        })
}

fn nar(path: &Path) -> Result<String, UpdateError> {
    content_hash::nar_hash(path)
        .map(|d| d.to_nix_base32())
        .map_err(|e| UpdateError::Tree {
            path: path.into(),
            message: format!("cannot compute the NAR hash: {e}"),
        })
}

/// `--enable-*`, `--disable-*`, `--with-*`, `--without-*` options a spec mentions.
fn spec_flags(tree: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(tree.join(spec::SPEC_FILE)).ok()?;
    let set: BTreeSet<String> = text
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter(|w| {
            ["--enable-", "--disable-", "--with-", "--without-"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    Some(set.into_iter().collect())
}

fn compare_series(old: &[PatchPin], new: &[PatchPin], unlisted: Vec<String>) -> PatchReport {
    let mut r = PatchReport {
        unlisted,
        ..Default::default()
    };
    let mut old_left: Vec<&PatchPin> = old.iter().collect();
    let mut new_left = Vec::new();
    for n in new {
        if let Some(i) = old_left.iter().position(|o| o.file == n.file) {
            if old_left[i].sha256 != n.sha256 {
                r.changed.push(n.file.clone());
            }
            old_left.remove(i);
        } else {
            new_left.push(n);
        }
    }
    for n in new_left {
        if let Some(i) = old_left.iter().position(|o| o.sha256 == n.sha256) {
            r.renamed.push(Renamed {
                old: old_left[i].file.clone(),
                new: n.file.clone(),
            });
            old_left.remove(i);
        } else {
            r.added.push(n.file.clone());
        }
    }
    r.dropped = old_left.into_iter().map(|o| o.file.clone()).collect();
    r
}

fn security(old: &[PatchPin], new: &[PatchPin], patches: &PatchReport) -> SecurityReport {
    let in_series = new
        .iter()
        .filter(|p| SECURITY_RANGE.contains(&p.number))
        .map(|p| p.file.clone())
        .collect();
    let dropped: Vec<String> = old
        .iter()
        .filter(|p| SECURITY_RANGE.contains(&p.number) && patches.dropped.contains(&p.file))
        .map(|p| p.file.clone())
        .collect();
    SecurityReport {
        in_series,
        all_present: dropped.is_empty(),
        dropped,
    }
}

/// Builds new pins, edits and the report from verified trees.
pub fn plan(defs: &Definitions, t: &Target<'_>, f: &Fetched) -> Result<Plan, UpdateError> {
    let tree: QubesTree = spec::read_tree(&f.qubes_dir)?;
    if tree.version != t.version {
        return Err(match &t.commit {
            Some(c) => UpdateError::CommitMismatch {
                commit: c.clone(),
                found: tree.version,
                expected: t.version.clone(),
            },
            None => UpdateError::TagMismatch {
                tag: t.version.tag(),
                found: tree.version,
                expected: t.version.clone(),
            },
        });
    }
    let mut patches = Vec::with_capacity(tree.series.len());
    for p in &tree.series {
        patches.push(PatchPin {
            number: p.number,
            file: p.file.clone(),
            sha256: sha256_file(&f.qubes_dir.join(&p.file))?,
        });
    }
    let config_sha256 = sha256_file(&tree.config)?;
    let qubes_nar = nar(&f.qubes_dir)?;
    // The NAR hash pins the git tree; a tree unpacked from the tarball is not that tree
    // (release tarballs add files), so it is not hashed as one.
    let upstream_nar = match &f.upstream_commit {
        Some(_) => Some(nar(&f.upstream_dir)?),
        None => None,
    };
    let hv_abi = read_hv_abi(&f.upstream_dir)?;

    let patch_report = compare_series(&t.data.patches, &patches, tree.unlisted.clone());
    let security = security(&t.data.patches, &patches, &patch_report);
    let (config_changes, spec_configure_flags) = match &f.old_qubes_dir {
        Some(old) => {
            let old_cfg = std::fs::read_to_string(old.join(&t.data.config.file)).ok();
            let new_cfg = std::fs::read_to_string(&tree.config).ok();
            let cfg = old_cfg.zip(new_cfg).map(|(o, n)| kconfig::diff(&o, &n));
            let flags = spec_flags(old).zip(spec_flags(&f.qubes_dir)).map(|(o, n)| {
                let added = n.iter().filter(|x| !o.contains(x)).cloned().collect();
                let removed = o.iter().filter(|x| !n.contains(x)).cloned().collect();
                Change {
                    old: removed,
                    new: added,
                }
            });
            (cfg, flags)
        }
        None => (None, None),
    };

    let read = |p: &Package| {
        std::fs::read_to_string(&p.path).map_err(|e| UpdateError::Tree {
            path: p.path.clone(),
            message: format!("cannot read: {e}"),
        })
    };
    let xen_old = read(t.xen_pkg)?;
    let data_old = read(t.data_pkg)?;
    let xen_file = t.xen_pkg.path.display().to_string();
    let data_file = t.data_pkg.path.display().to_string();
    // Data at a commit of an unmerged branch has no tag to record.
    let new_tag = t.commit.is_none().then(|| t.version.tag());
    let xen_new = edit::rewrite_xen(
        &xen_old,
        &xen_file,
        &t.xen_pkg.version,
        &XenPins {
            version: t.version.clone(),
            upstream_commit: f.upstream_commit.clone(),
            upstream_nar: upstream_nar.clone(),
            tarball_sha256: f.tarball_sha256.clone(),
            hv_abi: hv_abi.clone(),
            stream_commit: t.commit.clone(),
        },
    )?;
    let data_new = edit::rewrite_data(
        &data_old,
        &data_file,
        &DataPins {
            version: t.version.clone(),
            tag: new_tag.clone(),
            commit: f.qubes_commit.clone(),
            nar: qubes_nar,
            config_sha256: config_sha256.clone(),
            patches,
        },
    )?;
    // Never write something the loader would refuse.
    crate::load::parse_one(&defs.dir, &t.xen_pkg.path, &xen_new)?;
    crate::load::parse_one(&defs.dir, &t.data_pkg.path, &data_new)?;

    let name_of = |p: &Package| {
        p.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let changes = vec![
        FileChange {
            name: name_of(t.xen_pkg),
            old_text: xen_old,
            new_text: xen_new,
        },
        FileChange {
            name: name_of(t.data_pkg),
            old_text: data_old,
            new_text: data_new,
        },
    ];
    let report = Report {
        package: t.xen_pkg.name.clone(),
        data_package: t.data_pkg.name.clone(),
        version: Change {
            old: t.xen_pkg.version.to_string(),
            new: t.version.to_string(),
        },
        qubes_tag: Change {
            old: t.data.source.tag.clone(),
            new: new_tag.clone(),
        },
        qubes_signed: new_tag.is_some(),
        qubes_commit: Change {
            old: t.data.source.commit.clone(),
            new: f.qubes_commit.clone(),
        },
        upstream_tag: Change {
            old: t.xen.upstream.tag.clone(),
            new: t.version.xen.upstream_tag(),
        },
        upstream_origin: t.xen.upstream.origin.as_str().to_string(),
        upstream_commit: Change {
            old: pinned_or_not(&t.xen.upstream.commit),
            new: pinned_or_not(&f.upstream_commit),
        },
        patches: patch_report,
        security,
        config_sha256: Change {
            old: t.data.config.sha256.clone(),
            new: config_sha256,
        },
        config_changes,
        hv_abi: Change {
            old: t.xen.hv_abi.clone(),
            new: hv_abi,
        },
        spec_configure_flags,
        files: vec![xen_file, data_file],
    };
    Ok(Plan { report, changes })
}

fn pinned_or_not(v: &Option<String>) -> String {
    v.clone()
        .unwrap_or_else(|| crate::model::UNPINNED.to_string())
}

/// Human-readable report.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let arrow = |s: &mut String, what: &str, c: &Change<String>| {
        if c.old == c.new {
            let _ = writeln!(s, "  {what}: {} (unchanged)", c.old);
        } else {
            let _ = writeln!(s, "  {what}: {} -> {}", c.old, c.new);
        }
    };
    let _ = writeln!(s, "{} (data: {})", r.package, r.data_package);
    arrow(&mut s, "version", &r.version);
    let tag = |t: &Option<String>| t.clone().unwrap_or_else(|| "(untagged commit)".into());
    arrow(
        &mut s,
        "qubes tag",
        &Change {
            old: tag(&r.qubes_tag.old),
            new: tag(&r.qubes_tag.new),
        },
    );
    arrow(&mut s, "qubes commit", &r.qubes_commit);
    if !r.qubes_signed {
        let _ = writeln!(
            s,
            "  qubes data: UNSIGNED (a commit of an unmerged branch has no signed tag; pinned by commit id only)"
        );
    }
    arrow(&mut s, "upstream tag", &r.upstream_tag);
    let _ = writeln!(s, "  upstream origin: {}", r.upstream_origin);
    arrow(&mut s, "upstream commit", &r.upstream_commit);
    arrow(&mut s, "hv_abi", &r.hv_abi);
    let p = &r.patches;
    let _ = writeln!(
        s,
        "  patches: {} added, {} dropped, {} renamed, {} changed",
        p.added.len(),
        p.dropped.len(),
        p.renamed.len(),
        p.changed.len()
    );
    for a in &p.added {
        let _ = writeln!(s, "    + {a}");
    }
    for d in &p.dropped {
        let _ = writeln!(s, "    - {d}");
    }
    for rn in &p.renamed {
        let _ = writeln!(s, "    ~ {} -> {}", rn.old, rn.new);
    }
    for c in &p.changed {
        let _ = writeln!(s, "    * {c}");
    }
    if !p.unlisted.is_empty() {
        let _ = writeln!(s, "  not in the spec (ignored): {}", p.unlisted.join(", "));
    }
    if r.security.all_present {
        let _ = writeln!(
            s,
            "  security patches: all of the old series kept ({} in the new series)",
            r.security.in_series.len()
        );
    } else {
        let _ = writeln!(
            s,
            "  security patches DROPPED (check the new Xen release contains these fixes): {}",
            r.security.dropped.join(", ")
        );
    }
    arrow(&mut s, "config sha256", &r.config_sha256);
    match &r.config_changes {
        Some(c) if c.is_empty() => {
            let _ = writeln!(s, "  config symbols: no changes");
        }
        Some(c) => {
            let _ = writeln!(s, "  config symbols: {} changed", c.len());
            for ch in c {
                let _ = writeln!(
                    s,
                    "    CONFIG_{}: {} -> {}",
                    ch.symbol,
                    ch.old.as_deref().unwrap_or("(absent)"),
                    ch.new.as_deref().unwrap_or("(absent)")
                );
            }
        }
        None => {
            let _ = writeln!(s, "  config symbols: old config not available for a diff");
        }
    }
    if let Some(f) = &r.spec_configure_flags {
        if f.old.is_empty() && f.new.is_empty() {
            let _ = writeln!(s, "  spec configure flags: unchanged");
        } else {
            let _ = writeln!(
                s,
                "  spec configure flags: removed [{}], added [{}] — review `configure_flags`",
                f.old.join(" "),
                f.new.join(" ")
            );
        }
    }
    let _ = writeln!(s, "  files: {}", r.files.join(", "));
    s
}

/// Unified diff of the planned file changes (for `--diff`).
pub fn diff(dir: &Path, changes: &[FileChange]) -> String {
    let mut out = String::new();
    for c in changes {
        let name = dir.join(&c.name).display().to_string();
        let d = similar::TextDiff::from_lines(&c.old_text, &c.new_text);
        out.push_str(
            &d.unified_diff()
                .context_radius(2)
                .header(&name, &name)
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(n: u32, f: &str, s: &str) -> PatchPin {
        PatchPin {
            number: n,
            file: f.into(),
            sha256: s.into(),
        }
    }

    #[test]
    fn series_comparison_classifies_every_patch() {
        let old = [
            pin(201, "0201-a.patch", "A"),
            pin(500, "0500-xsa1.patch", "X1"),
            pin(501, "0501-xsa2.patch", "X2"),
            pin(1000, "1000-q.patch", "Q"),
        ];
        let new = [
            pin(201, "0201-a.patch", "A2"),
            pin(502, "0502-xsa2.patch", "X2"),
            pin(503, "0503-xsa3.patch", "X3"),
            pin(1000, "1000-q.patch", "Q"),
        ];
        let r = compare_series(&old, &new, vec![]);
        assert_eq!(r.changed, ["0201-a.patch"]);
        assert_eq!(r.renamed.len(), 1);
        assert_eq!(
            (r.renamed[0].old.as_str(), r.renamed[0].new.as_str()),
            ("0501-xsa2.patch", "0502-xsa2.patch")
        );
        assert_eq!(r.added, ["0503-xsa3.patch"]);
        assert_eq!(r.dropped, ["0500-xsa1.patch"]);
        let s = security(&old, &new, &r);
        assert!(!s.all_present);
        assert_eq!(s.dropped, ["0500-xsa1.patch"]);
        assert_eq!(s.in_series, ["0502-xsa2.patch", "0503-xsa3.patch"]);
    }
}
