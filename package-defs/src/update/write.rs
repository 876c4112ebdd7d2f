//! Where the definitions are rewritten: the new pins go into the xen package and its data
//! package with `edit` (comments and layout kept), and the result must load again. The files
//! themselves are swapped in by `txn::commit`.

use super::hash::Hashes;
use super::{Definitions, Fetched, Target, UpdateError};
use crate::defs::edit::{self, DataPins, XenPins};
use crate::defs::model::Package;
use crate::defs::txn::FileChange;

/// The rewritten definitions, not yet written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The xen package's file, then the data package's.
    pub changes: Vec<FileChange>,
    /// Their paths, for the report.
    pub files: Vec<String>,
    /// The Qubes tag now pinned; `None` for data at a commit of an unmerged branch.
    pub new_tag: Option<String>,
}

/// Rewrites both definitions with the new pins and checks the loader accepts them.
pub fn definitions(
    defs: &Definitions,
    t: &Target<'_>,
    f: &Fetched,
    hashes: &Hashes,
    hv_abi: &str,
) -> Result<Written, UpdateError> {
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
            upstream_nar: hashes.upstream_nar.clone(),
            tarball_sha256: f.tarball_sha256.clone(),
            hv_abi: hv_abi.to_string(),
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
            nar: hashes.qubes_nar.clone(),
            config_sha256: hashes.config_sha256.clone(),
            patches: hashes.patches.clone(),
        },
    )?;
    // Never write something the loader would refuse.
    crate::defs::load::parse_one(&defs.dir, &t.xen_pkg.path, &xen_new)?;
    crate::defs::load::parse_one(&defs.dir, &t.data_pkg.path, &data_new)?;

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
    Ok(Written {
        changes,
        files: vec![xen_file, data_file],
        new_tag,
    })
}
