//! Planning an update: from fetched, verified trees to new pins, file edits and a report.
//!
//! Fetching and signature checks happen before (see `sources::fetch`); [`plan`] never touches
//! the network. It runs its steps in order, one module each:
//!
//! - [`read`]: where the Qubes spec and the upstream tree are read;
//! - [`hash`]: where every hash is computed (all through `content-hash`);
//! - [`compare`]: old pins against new ones (patch series, security patches, config, flags);
//! - [`write`]: where the definitions are rewritten and re-validated (written by `txn`);
//! - [`report`]: what changed, as data and as text.
//!
//! [`pipeline`] runs the whole update (resolve, fetch, plan, write) for the CLI and the bot.

use std::path::PathBuf;

use crate::defs::model::{Body, DataDef, Definitions, Package, XenDef};
use crate::defs::txn::FileChange;
use crate::defs::version::QubesVersion;

pub mod compare;
pub mod hash;
pub mod pipeline;
pub mod read;
pub mod report;
pub mod write;

pub use read::{makefile_version, read_hv_abi, read_xen_version};
pub use report::{diff, render, Change, PatchReport, Renamed, Report, SecurityReport};

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
    #[error("{tag}: its `version`/`rel` files say {found}, but {expected} was asked for: the server serves another release under this tag (a stale or compromised mirror); refusing it")]
    TagMismatch {
        /// `<repository URL> tag <tag>`.
        tag: String,
        found: QubesVersion,
        expected: QubesVersion,
    },
    #[error(transparent)]
    Spec(#[from] crate::defs::spec::SpecError),
    #[error("{}: {message}", path.display())]
    Tree { path: PathBuf, message: String },
    #[error(transparent)]
    Edit(#[from] crate::defs::edit::EditError),
    #[error("the rewritten definitions do not validate (a bug): {0}")]
    Invalid(#[from] crate::defs::load::LoadError),
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
    if crate::defs::load::check_commit(commit).is_err() {
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
    if let crate::defs::model::StreamRef::Branch(branch) = &xen.stream.reference {
        return Err(UpdateError::NotCommitPinned {
            path: pkg.path.display().to_string(),
            name: name.into(),
            branch: branch.clone(),
        });
    }
    if crate::defs::load::check_commit(commit).is_err() {
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
        (crate::defs::model::StreamRef::Commit(pinned), None) => {
            return Err(UpdateError::CommitPinnedStream {
                path: pkg.path.display().to_string(),
                name: name.into(),
                commit: pinned.clone(),
                repo: xen.stream.repo.clone(),
            });
        }
        (crate::defs::model::StreamRef::Branch(branch), Some(_)) => {
            return Err(UpdateError::NotCommitPinned {
                path: pkg.path.display().to_string(),
                name: name.into(),
                branch: branch.clone(),
            });
        }
        (crate::defs::model::StreamRef::Commit(pinned), Some(c)) if pinned == c && !allow.repin => {
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

#[derive(Debug, Clone)]
pub struct Plan {
    pub report: Report,
    pub changes: Vec<FileChange>,
}

/// Range of Xen security (XSA) patch numbers in Qubes' series.
pub const SECURITY_RANGE: std::ops::Range<u32> = 500..600;

/// Builds new pins, edits and the report from verified trees.
pub fn plan(defs: &Definitions, t: &Target<'_>, f: &Fetched) -> Result<Plan, UpdateError> {
    let tree = read::qubes_tree(t, f)?;
    let hashes = hash::inputs(&tree, f)?;
    let hv_abi = read_hv_abi(&f.upstream_dir)?;
    let compared = compare::compare(t, &tree, f, &hashes.patches);
    let written = write::definitions(defs, t, f, &hashes, &hv_abi)?;
    let report = report::report(t, f, compared, hashes.config_sha256, hv_abi, &written);
    Ok(Plan {
        report,
        changes: written.changes,
    })
}
