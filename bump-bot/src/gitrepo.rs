//! The definitions repository: the bot's branch, its worktree and its commits.
//!
//! The bot works in a worktree of its own branch, so the checkout a person uses
//! is never touched, and a worktree left dirty by a killed run is simply reset.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, CommandError};

const GIT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    pub fn new(root: impl Into<PathBuf>) -> Repo {
        Repo { root: root.into() }
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Result<String, CommandError> {
        let mut cmd = qxk_process::Cmd::new("git");
        cmd.args(args);
        process::run(cmd, dir, GIT_TIMEOUT)
    }

    pub fn branch_exists(&self, branch: &str) -> Result<bool, CommandError> {
        Ok(self.branch_commit(branch)?.is_some())
    }

    /// The commit `branch` points to, or `None` when there is no such branch. Any other git
    /// failure (a timeout, a broken repository) is an error, never "no branch".
    pub fn branch_commit(&self, branch: &str) -> Result<Option<String>, CommandError> {
        let refname = format!("refs/heads/{branch}");
        match self.git(&self.root, &["rev-parse", "--verify", "--quiet", &refname]) {
            Ok(c) => Ok(Some(c.trim().to_string())),
            Err(CommandError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates `branch` from `base` if needed and returns a clean worktree of it.
    pub fn worktree(&self, branch: &str, base: &str, dir: &Path) -> Result<(), CommandError> {
        if !self.branch_exists(branch)? {
            self.git(&self.root, &["branch", "--quiet", branch, base])?;
        }
        self.git(&self.root, &["worktree", "prune"])?;
        if !dir.join(".git").exists() {
            let d = dir.to_string_lossy();
            self.git(
                &self.root,
                &["worktree", "add", "--quiet", "--force", &d, branch],
            )?;
        } else {
            // The worktree of an earlier run is on that run's branch.
            self.clean(dir)?;
            self.git(dir, &["checkout", "--quiet", "--force", branch])?;
        }
        self.clean(dir)
    }

    /// Drops whatever a killed run left in the worktree.
    pub fn clean(&self, worktree: &Path) -> Result<(), CommandError> {
        self.git(worktree, &["reset", "--quiet", "--hard", "HEAD"])?;
        self.git(worktree, &["clean", "-fdq"])?;
        Ok(())
    }

    /// Commits on the worktree's branch since `base`, newest first, each with the values of
    /// its trailers named `key` (git's own trailer parsing: the last paragraph only).
    pub fn trailers(
        &self,
        worktree: &Path,
        base: &str,
        key: &str,
    ) -> Result<Vec<(String, Vec<String>)>, CommandError> {
        let range = format!("{base}..HEAD");
        let format =
            format!("--format=%H%x09%(trailers:key={key},valueonly,unfold,separator=%x1f)");
        let log = self.git(worktree, &["log", &format, &range])?;
        Ok(log
            .lines()
            .filter_map(|l| {
                let (sha, values) = l.split_once('\t')?;
                let values = values
                    .split('\x1f')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
                    .collect();
                Some((sha.to_string(), values))
            })
            .collect())
    }

    /// True when `paths` differ from HEAD in the worktree.
    pub fn has_changes(&self, worktree: &Path, paths: &str) -> Result<bool, CommandError> {
        let out = self.git(worktree, &["status", "--porcelain", "--", paths])?;
        Ok(!out.trim().is_empty())
    }

    /// Commits `paths` with `subject` and `body`, signed with `signing_key` if set.
    pub fn commit(
        &self,
        worktree: &Path,
        paths: &[&str],
        subject: &str,
        body: &str,
        signing_key: Option<&str>,
    ) -> Result<String, CommandError> {
        let mut add = vec!["add", "--all", "--"];
        add.extend_from_slice(paths);
        self.git(worktree, &add)?;
        let mut args = vec![
            "commit".to_string(),
            "--quiet".into(),
            "-m".into(),
            subject.into(),
        ];
        if !body.trim().is_empty() {
            args.extend(["-m".to_string(), body.to_string()]);
        }
        match signing_key {
            Some(key) => args.push(format!("--gpg-sign={key}")),
            None => args.push("--no-gpg-sign".into()),
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git(worktree, &refs)?;
        Ok(self
            .git(worktree, &["rev-parse", "HEAD"])?
            .trim()
            .to_string())
    }
}
