//! The update pipeline, one function for `package-defs update` and the bump bot: resolve the
//! target (a signed tag, or a commit of an unmerged branch), fetch and verify its sources,
//! plan the new pins ([`crate::update::plan`]) and swap the definitions in ([`crate::defs::txn`]).

use anyhow::Context;

use crate::defs::model::Definitions;
use crate::defs::txn;
use crate::defs::version::QubesVersion;
use crate::sources::fetch::{self, Sources};
use crate::update::{self, Allow, Plan, UpdateError};

/// What to update, and how.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// A package of kind `xen` (its data package is updated with it).
    pub package: &'a str,
    /// The VERSION-REL to pin; with `commit` it may be left out (read from the commit).
    pub version: Option<QubesVersion>,
    /// For a stream pinned to a commit of an unmerged branch: the commit to move to.
    pub commit: Option<&'a str>,
    pub allow: Allow,
    /// Also pin the release tarball (+ its signature).
    pub with_tarball: bool,
    /// Plan only: write nothing.
    pub dry_run: bool,
    /// Also return the unified diff of the planned edits.
    pub diff: bool,
}

/// What an update did.
#[derive(Debug)]
pub enum Outcome {
    /// The version or commit asked for is already pinned: nothing fetched, nothing written.
    AlreadyPinned(UpdateError),
    /// The plan, written unless it was a dry run.
    Planned {
        plan: Box<Plan>,
        diff: Option<String>,
        written: bool,
    },
}

/// Runs one update of `defs` through every step; a failure at any step writes nothing.
pub fn update(
    defs: &Definitions,
    req: &Request<'_>,
    sources: &dyn Sources,
) -> anyhow::Result<Outcome> {
    let package = req.package;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let resolved = match (req.commit, req.version.clone()) {
        (None, Some(v)) => update::resolve(defs, package, v, req.allow),
        (None, None) => anyhow::bail!(
            "update {package}: give the VERSION-REL to pin (e.g. 4.17.4-6), or --commit SHA for a stream pinned to a commit"
        ),
        (Some(c), asked) => {
            // Refuse a tagged stream, an unknown package or a bad id before fetching.
            let x = update::commit_stream(defs, package, c)?;
            let found = fetch::version_at_commit(&x.stream.repo, c, sources, work.path())
                .with_context(|| format!("Qubes data at commit {c} of {}", x.stream.repo))?;
            if let Some(v) = asked.filter(|v| *v != found) {
                return Err(UpdateError::CommitMismatch {
                    commit: c.to_string(),
                    found,
                    expected: v,
                }
                .into());
            }
            update::resolve_commit(defs, package, c, found, req.allow)
        }
    };
    let t = match resolved {
        Err(e) if e.is_already_pinned() => return Ok(Outcome::AlreadyPinned(e)),
        r => r?,
    };
    let fetched = fetch::fetch_for_update(&defs.dir, &t, sources, work.path(), req.with_tarball)?;
    let plan = update::plan(defs, &t, &fetched)?;
    let diff = req.diff.then(|| update::diff(&defs.dir, &plan.changes));
    if !req.dry_run {
        txn::commit(&defs.dir, &plan.changes)?;
    }
    Ok(Outcome::Planned {
        plan: Box::new(plan),
        diff,
        written: !req.dry_run,
    })
}
