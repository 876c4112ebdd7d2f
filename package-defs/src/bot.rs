//! The weekend bot on these definitions: [`bump_bot`] plans and commits, this
//! module tells it what the definitions follow and performs each bump with the
//! same pipeline as `package-defs update` ([`crate::update::pipeline::update`]).

use std::path::Path;

use bump_bot::packages::BoxError;
use bump_bot::{Followed, Packages};
use upstream_tags::{QubesVersion, Stream};

use crate::defs::model::{Body, StreamRef};
use crate::export::guix;
use crate::load_dir;
use crate::sources::fetch::Sources;
use crate::update;
use crate::update::pipeline::{self, Outcome, Request};

/// Follows every package of kind `xen`; a bump rewrites it and its data package.
pub struct DefinitionsPackages<'a> {
    pub sources: &'a dyn Sources,
    /// Also pin the release tarball (+ its signature), as `update` does by default.
    pub with_tarball: bool,
    /// The Guix channel directory beside the definitions, relative to the repository root,
    /// when the repository is a channel: each bump regenerates its modules, and they are
    /// committed with the definitions, so every bump commit is a working channel.
    pub guix_channel: Option<String>,
}

impl Packages for DefinitionsPackages<'_> {
    fn followed(&self, dir: &Path) -> Result<Vec<Followed>, BoxError> {
        let defs = load_dir(dir)?;
        let mut out = Vec::new();
        for p in &defs.packages {
            let Body::Xen(x) = &p.body else { continue };
            let stream = match &x.stream.reference {
                StreamRef::Branch(branch) => {
                    Some(Stream::new(branch, &x.stream.xen_series).ok_or_else(|| {
                        format!(
                            "{}: stream.xen_series {:?} is not MAJOR.MINOR",
                            p.path.display(),
                            x.stream.xen_series
                        )
                    })?)
                }
                // A commit of an unmerged branch has no tags to follow.
                StreamRef::Commit(_) => None,
            };
            out.push(Followed {
                package: p.name.clone(),
                current: p.version.clone(),
                stream,
                qubes_repo: x.stream.repo.clone(),
                upstream_repo: Some(x.upstream.git.clone()),
            });
        }
        Ok(out)
    }

    fn update(&self, dir: &Path, package: &str, to: &QubesVersion) -> Result<String, BoxError> {
        let defs = load_dir(dir)?;
        let req = Request {
            package,
            version: Some(to.clone()),
            with_tarball: self.with_tarball,
            ..Request::default()
        };
        let plan = match pipeline::update(&defs, &req, self.sources)? {
            // The bot only bumps to newer tags; a pinned one is a failed bump, as before.
            Outcome::AlreadyPinned(e) => return Err(e.into()),
            Outcome::Planned { plan, .. } => plan,
        };
        if self.guix_channel.is_some() {
            let updated = load_dir(dir)?;
            let channel = dir.parent().unwrap_or(dir).join(guix::CHANNEL_DIR);
            guix::write_channel(&channel, &guix::channel(&updated)?)?;
        }
        Ok(update::render(&plan.report))
    }

    fn also_commit(&self) -> Vec<String> {
        self.guix_channel.iter().cloned().collect()
    }
}
