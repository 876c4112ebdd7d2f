//! The weekend bot on these definitions: [`bump_bot`] plans and commits, this
//! module tells it what the definitions follow and performs each bump with the
//! same pipeline as `package-defs update` ([`crate::update::pipeline::update`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

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

/// In a repository with `.guix-authorizations` (on `base`), the bot must sign with a key
/// that file lists.
pub fn check_signing_key(repo: &Path, base: &str, key: Option<&str>) -> anyhow::Result<()> {
    let git = |args: &[&str]| {
        qxk_process::Cmd::new("git")
            .args(args)
            .current_dir(repo)
            .timeout(std::time::Duration::from_secs(60))
            .run()
    };
    // Only a base without the file is "not an authenticated channel"; a base that does not
    // resolve (or a git that fails) must not skip the check.
    let commit = format!("{base}^{{commit}}");
    git(&["rev-parse", "--verify", "--quiet", &commit]).map_err(|_| {
        qxk_cli::usage(format!(
            "--base {base}: no such commit in {}; name the branch the bumps start from",
            repo.display()
        ))
    })?;
    let listed = git(&["ls-tree", "--name-only", base, "--", ".guix-authorizations"])?;
    if listed.stdout_lossy().trim().is_empty() {
        return Ok(());
    }
    let out = git(&["show", &format!("{base}:.guix-authorizations")])?;
    let authorized = guix::authorized_fingerprints(&String::from_utf8_lossy(&out.stdout));
    let Some(key) = key else {
        anyhow::bail!(
            "{}/.guix-authorizations lists the keys that may sign this channel's commits ({}); pass --sign with one of them",
            repo.display(),
            authorized.join(", ")
        );
    };
    let gpg = qxk_process::Cmd::new("gpg")
        .args(["--batch", "--with-colons", "--fingerprint", key])
        .timeout(std::time::Duration::from_secs(60))
        .output()?;
    let fpr = String::from_utf8_lossy(&gpg.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .filter(|_| gpg.status.success());
    let Some(fpr) = fpr else {
        anyhow::bail!("--sign {key}: gpg has no such key in its keyring (GNUPGHOME); import the bot's secret key");
    };
    anyhow::ensure!(
        authorized.iter().any(|a| a.eq_ignore_ascii_case(&fpr)),
        "--sign {key}: key {fpr} is not in {}'s .guix-authorizations ({}); Guix would refuse its commits. Sign with an authorized key, or authorize this one in a commit signed by an authorized key",
        base,
        authorized.join(", ")
    );
    Ok(())
}

/// The git repository holding `dir` (the bot commits its bumps there).
pub fn git_toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    let out = qxk_process::Cmd::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .timeout(std::time::Duration::from_secs(60))
        .run()
        .with_context(|| {
            format!(
                "{} is not in a git repository; the bot commits its bumps, pass --repo",
                dir.display()
            )
        })?;
    Ok(PathBuf::from(out.stdout_lossy().trim()))
}
