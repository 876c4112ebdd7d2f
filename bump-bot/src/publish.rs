//! Publishing: pushing the bump branch (or fast-forwarding the channel branch to it) once
//! the gate has passed and the bump is committed. Never forced. A branch whose push fails
//! stays in `push.json` under the state folder, so the next run pushes it again.

use crate::gitrepo::Repo;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::lock::RunLock;
use crate::report::{Outcome, RunReport};

const PUSH_TIMEOUT: Duration = Duration::from_secs(300);
/// Attempts per branch and run for failures that may pass (network); a rejection is final
/// for this run.
const ATTEMPTS: usize = 2;

/// Where bumps are published.
#[derive(Debug, Clone)]
pub struct Publish {
    /// A git remote name or URL.
    pub remote: String,
    /// Fast-forward this branch of the remote to the bump branch instead of pushing the
    /// bump branch under its own name.
    pub to_branch: Option<String>,
}

/// One branch published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pushed {
    pub branch: String,
    pub remote: String,
    pub to: String,
    pub commit: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Local git failed (not "no such branch"): the pending push stays for the next run.
    #[error(transparent)]
    Git(#[from] crate::process::CommandError),
    #[error("push state {}: {message}; delete it to forget pending pushes", path.display())]
    State { path: PathBuf, message: String },
    #[error("git push {remote} {branch}:{to} failed: {message}\nnothing was forced; the next run pushes {branch} again (fix the remote, or pull and rebase {to} onto it)")]
    Push {
        remote: String,
        branch: String,
        to: String,
        message: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    branches: Vec<String>,
}

/// Pushes every branch that has bumps and is not published yet: this run's branch if it
/// holds a bump, and any branch an earlier run failed to push.
/// Runs under the run's `lock`, the one [`run`](crate::run()) ran under; the pending pushes
/// live in its state folder.
pub fn publish(
    repo: &Path,
    lock: &RunLock,
    report: &RunReport,
    target: &Publish,
) -> Result<Vec<Pushed>, PublishError> {
    let state_dir = lock.state_dir();
    let path = state_dir.join("push.json");
    let mut pending = load(&path)?;
    let has_bump = report.packages.iter().any(|p| {
        matches!(
            p.outcome,
            Outcome::Bumped { .. } | Outcome::AlreadyCommitted { .. }
        )
    });
    if has_bump && !report.dry_run && !pending.branches.contains(&report.branch) {
        pending.branches.push(report.branch.clone());
        save(&path, &pending)?;
    }
    let mut pushed = Vec::new();
    let mut first_error = None;
    for branch in pending.branches.clone() {
        let to = target.to_branch.clone().unwrap_or_else(|| branch.clone());
        let commit = match Repo::new(repo).branch_commit(&branch)? {
            Some(c) => c,
            // The branch was deleted by hand: nothing left to publish.
            None => {
                pending.branches.retain(|b| b != &branch);
                save(&path, &pending)?;
                continue;
            }
        };
        match push(repo, &target.remote, &branch, &to) {
            Ok(()) => {
                pending.branches.retain(|b| b != &branch);
                save(&path, &pending)?;
                pushed.push(Pushed {
                    branch,
                    remote: target.remote.clone(),
                    to,
                    commit,
                });
            }
            Err(message) => {
                first_error.get_or_insert(PublishError::Push {
                    remote: target.remote.clone(),
                    branch,
                    to,
                    message,
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(pushed),
    }
}

fn push(repo: &Path, remote: &str, branch: &str, to: &str) -> Result<(), String> {
    // No `+` and no --force: a push that is not a fast-forward is refused by git.
    let refspec = format!("refs/heads/{branch}:refs/heads/{to}");
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        let mut cmd = qxk_process::Cmd::new("git");
        cmd.args([
            "-c",
            "http.lowSpeedLimit=1",
            "-c",
            "http.lowSpeedTime=60",
            "push",
            "--porcelain",
            remote,
            &refspec,
        ]);
        // `--porcelain` prints its verdict on stdout and the hints on stderr: read both.
        let pushed = cmd
            .current_dir(repo)
            .timeout(PUSH_TIMEOUT)
            .merge_stderr()
            .run();
        match pushed {
            Ok(_) => return Ok(()),
            Err(e) => {
                // git's verdict (`!  ref  [rejected] (reason)`, `fatal: ...`), not its hints.
                let said: Vec<&str> = e
                    .output()
                    .lines()
                    .filter(|l| l.starts_with('!') || l.starts_with("fatal:"))
                    .collect();
                last = if said.is_empty() {
                    e.to_string()
                } else {
                    said.join("; ").replace('\t', " ")
                };
                if last.contains("[rejected]") {
                    break;
                }
            }
        }
    }
    Err(last)
}

fn load(path: &Path) -> Result<Pending, PublishError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PublishError::State {
            path: path.to_path_buf(),
            message: format!("not the JSON the bot writes: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pending::default()),
        Err(e) => Err(PublishError::State {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Written to a temporary file and renamed, so a killed run leaves the old or the new list.
fn save(path: &Path, pending: &Pending) -> Result<(), PublishError> {
    let err = |message: String| PublishError::State {
        path: path.to_path_buf(),
        message,
    };
    let json = serde_json::to_vec_pretty(pending).map_err(|e| err(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
