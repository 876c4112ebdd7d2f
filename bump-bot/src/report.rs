//! What a run did, per package: text for people, JSON for machines.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The steps of one package's bump, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Discover,
    Plan,
    Update,
    Gate,
    Commit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Step::Discover => "discover",
            Step::Plan => "plan",
            Step::Update => "update",
            Step::Gate => "gate",
            Step::Commit => "commit",
        };
        f.write_str(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Committed in this run.
    Bumped {
        from: String,
        to: String,
        commit: String,
    },
    /// Only planned (`--dry-run`).
    Planned {
        from: String,
        to: String,
        tag: String,
    },
    /// A commit for this bump was already on the branch.
    AlreadyCommitted {
        from: String,
        to: String,
        commit: String,
    },
    UpToDate {
        current: String,
    },
    Waiting {
        current: String,
        tag: String,
        lands_on: String,
    },
    /// The definition pins a commit, not a stream: nothing to follow.
    Pinned {
        current: String,
    },
    Failed {
        step: Step,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageReport {
    pub package: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Upstream Xen releases of the stream's series, newer than the pin, that no Qubes
    /// tag carries yet: nothing to bump to, but worth knowing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_releases: Vec<String>,
    /// Listing upstream's tags failed; the bump itself does not depend on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub today: String,
    pub branch: String,
    pub dry_run: bool,
    pub packages: Vec<PackageReport>,
    /// Tags not seen by an earlier run, per repository.
    pub new_tags: std::collections::BTreeMap<String, Vec<String>>,
}

impl RunReport {
    /// True when any package failed: the run must exit non-zero.
    pub fn failed(&self) -> bool {
        self.packages
            .iter()
            .any(|p| matches!(p.outcome, Outcome::Failed { .. }))
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.dry_run { " (dry run)" } else { "" };
        writeln!(
            f,
            "bot run for {} on branch {}{mode}",
            self.today, self.branch
        )?;
        for p in &self.packages {
            let line = match &p.outcome {
                Outcome::Bumped { from, to, commit } => format!(
                    "bumped {from} -> {to} ({})",
                    &commit[..commit.len().min(12)]
                ),
                Outcome::Planned { from, to, tag } => {
                    format!("would bump {from} -> {to} (tag {tag})")
                }
                Outcome::AlreadyCommitted { from, to, commit } => {
                    format!(
                        "{from} -> {to} already committed ({})",
                        &commit[..commit.len().min(12)]
                    )
                }
                Outcome::UpToDate { current } => format!("up to date at {current}"),
                Outcome::Waiting {
                    current,
                    tag,
                    lands_on,
                } => {
                    format!("at {current}; {tag} lands on {lands_on}")
                }
                Outcome::Pinned { current } => {
                    format!("pinned to a commit at {current}; not followed")
                }
                Outcome::Failed { step, error } => format!("FAILED at step {step}: {error}"),
            };
            writeln!(f, "  {}: {line}", p.package)?;
            if !p.upstream_releases.is_empty() {
                writeln!(
                    f,
                    "  {}: upstream Xen released {} (no Qubes tag yet)",
                    p.package,
                    p.upstream_releases.join(", ")
                )?;
            }
            if let Some(e) = &p.upstream_error {
                writeln!(
                    f,
                    "  {}: warning: upstream releases unknown: {e}",
                    p.package
                )?;
            }
        }
        for (repo, tags) in &self.new_tags {
            writeln!(f, "  new tags in {repo}: {}", tags.join(", "))?;
        }
        Ok(())
    }
}
