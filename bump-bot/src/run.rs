//! One bot run.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::Date;
use upstream_tags::{plan_bump, LandingPolicy, PublishedTag, QubesVersion, Skip, XenVersion};

use crate::forge::TagSource;
use crate::gitrepo::Repo;
use crate::lock::{LockError, RunLock};
use crate::packages::{Followed, Packages};
use crate::process::{self, CommandError};
use crate::report::{Outcome, PackageReport, RunReport, Step};
use crate::state::{InProgress, Landed, State, StateError};

/// Everything a run needs to know besides the packages and the tag source.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// The git repository that holds the definitions.
    pub repo: PathBuf,
    /// Definitions folder, relative to the repository root.
    pub definitions: String,
    /// The branch bumps start from.
    pub base: String,
    /// Bumps go to `<branch_prefix><today>`, one commit per package.
    pub branch_prefix: String,
    /// State file, lock, worktree and tag cache live here.
    pub state_dir: PathBuf,
    /// Key to sign commits with (`git commit --gpg-sign=KEY`).
    pub signing_key: Option<String>,
    pub landing: LandingPolicy,
    /// Build gate: commands run in the worktree after an update; `{package}` and
    /// `{version}` are replaced. Any failure stops that package's bump.
    pub gate: Vec<Vec<String>>,
    pub gate_timeout: Duration,
    /// The run's day (today, or a replayed day).
    pub today: Date,
    /// Plan only: no branch, worktree, state or commit is touched.
    pub dry_run: bool,
}

/// A failure before any package could be looked at.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("preparing the bot branch in {repo}: {source}")]
    Git {
        repo: PathBuf,
        #[source]
        source: Box<CommandError>,
    },
    #[error("reading the followed packages from {dir}: {message}")]
    Packages { dir: PathBuf, message: String },
}

/// Test hook: `BUMP_BOT_HOLD_AT=<step>` makes a run stop (sleep) just before that
/// step (a [`Step`], or `publish`), after writing `<state_dir>/held-at-<step>`, so a test can
/// kill -9 it there. Only with the `test-hooks` feature, which the tests enable: shipped
/// binaries ignore it.
#[cfg(feature = "test-hooks")]
pub fn hold_if_asked(state_dir: &Path, step: &str) {
    if std::env::var("BUMP_BOT_HOLD_AT").ok().as_deref() == Some(step) {
        let _ = std::fs::write(state_dir.join(format!("held-at-{step}")), b"");
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[cfg(not(feature = "test-hooks"))]
pub fn hold_if_asked(_state_dir: &Path, _step: &str) {}

/// One run, under `lock` ([`RunLock::for_state`] of `cfg.state_dir`), which the caller
/// keeps until it has published.
pub fn run(
    cfg: &BotConfig,
    lock: &RunLock,
    packages: &dyn Packages,
    tags: &dyn TagSource,
) -> Result<RunReport, BotError> {
    lock.check(&cfg.state_dir)?;
    let state_path = cfg.state_dir.join("state.json");
    let mut state = State::load(&state_path)?;
    let repo = Repo::new(&cfg.repo);
    let branch = format!("{}{}", cfg.branch_prefix, cfg.today);
    let worktree = cfg.state_dir.join("worktree");
    let mut report = RunReport {
        today: cfg.today.to_string(),
        branch: branch.clone(),
        dry_run: cfg.dry_run,
        ..RunReport::default()
    };

    // A dry run plans from the checkout as it is; a real run from the bot branch.
    let work_root = if cfg.dry_run {
        cfg.repo.clone()
    } else {
        repo.worktree(&branch, &cfg.base, &worktree)
            .map_err(|source| BotError::Git {
                repo: cfg.repo.clone(),
                source: Box::new(source),
            })?;
        worktree.clone()
    };
    let defs = work_root.join(&cfg.definitions);
    let followed = packages.followed(&defs).map_err(|e| BotError::Packages {
        dir: defs.clone(),
        message: e.to_string(),
    })?;

    let ctx = Ctx {
        cfg,
        repo: &repo,
        work_root: &work_root,
        defs: &defs,
        branch: &branch,
        packages,
        tags,
        state_path: &state_path,
        listings: RefCell::new(HashMap::new()),
    };
    for pkg in followed {
        let outcome = ctx
            .bump_one(&pkg, &mut state, &mut report)
            .unwrap_or_else(|(step, error)| Outcome::Failed { step, error });
        if matches!(outcome, Outcome::Failed { .. }) && !cfg.dry_run {
            // Leave the worktree clean for the next package and the next run.
            let _ = repo.clean(&work_root);
        }
        let (upstream_releases, upstream_error) = match ctx.upstream_releases(&pkg) {
            Ok(r) => (r, None),
            Err((_, e)) => (Vec::new(), Some(e)),
        };
        report.packages.push(PackageReport {
            package: pkg.package.clone(),
            outcome,
            upstream_releases,
            upstream_error,
        });
    }
    if !cfg.dry_run {
        state.save(&state_path)?;
    }
    Ok(report)
}

type StepResult = Result<Outcome, (Step, String)>;

/// What every package's bump shares within a run.
struct Ctx<'a> {
    cfg: &'a BotConfig,
    repo: &'a Repo,
    work_root: &'a Path,
    defs: &'a Path,
    branch: &'a str,
    packages: &'a dyn Packages,
    tags: &'a dyn TagSource,
    state_path: &'a Path,
    listings: RefCell<HashMap<String, Vec<PublishedTag>>>,
}

impl Ctx<'_> {
    /// The newest commit on this run's branch whose bump trailer moves `package` to `to`.
    /// A malformed trailer is an error naming the commit: the branch is the bot's own.
    fn committed_bump(
        &self,
        package: &str,
        to: &str,
    ) -> Result<Option<(String, BumpTrailer)>, (Step, String)> {
        let commits = self
            .repo
            .trailers(self.work_root, &self.cfg.base, BUMP_TRAILER)
            .map_err(|e| (Step::Commit, e.to_string()))?;
        for (commit, values) in commits {
            for v in values {
                let bump = BumpTrailer::parse(&v).map_err(|e| {
                    (
                        Step::Commit,
                        format!(
                            "commit {commit} on {}: trailer `{BUMP_TRAILER}: {v}`: {e}",
                            self.branch
                        ),
                    )
                })?;
                if bump.package == package && bump.to.to_string() == to {
                    return Ok(Some((commit, bump)));
                }
            }
        }
        Ok(None)
    }

    /// Tags of `url`, listed once per run however many packages share the repository.
    fn listed(&self, url: &str) -> Result<Vec<PublishedTag>, (Step, String)> {
        let mut cache = self.listings.borrow_mut();
        if let Some(tags) = cache.get(url) {
            return Ok(tags.clone());
        }
        let tags = self
            .tags
            .tags(url)
            .map_err(|e| (Step::Discover, e.to_string()))?;
        cache.insert(url.to_string(), tags.clone());
        Ok(tags)
    }

    fn save(&self, state: &State, step: Step) -> Result<(), (Step, String)> {
        state
            .save(self.state_path)
            .map_err(|e| (step, e.to_string()))
    }

    /// Records that `pkg` is about to enter `step`, then (test hook) holds if asked.
    fn enter(
        &self,
        state: &mut State,
        pkg: &Followed,
        to: &str,
        step: Step,
    ) -> Result<(), (Step, String)> {
        state.package(&pkg.package).in_progress = Some(InProgress {
            to: to.to_string(),
            branch: self.branch.to_string(),
            step,
        });
        self.save(state, step)?;
        hold_if_asked(&self.cfg.state_dir, &step.to_string());
        Ok(())
    }

    /// `RELEASE-x.y.z` tags upstream in the stream's series, newer than the pinned Xen,
    /// whose version no Qubes tag carries yet, oldest first.
    fn upstream_releases(&self, pkg: &Followed) -> Result<Vec<String>, (Step, String)> {
        let (Some(url), Some(stream)) = (&pkg.upstream_repo, &pkg.stream) else {
            return Ok(Vec::new());
        };
        let qubes: Vec<XenVersion> = self
            .listed(&pkg.qubes_repo)?
            .iter()
            .filter_map(|t| t.tag().version().map(|v| v.xen.clone()))
            .collect();
        let mut out: Vec<XenVersion> = self
            .listed(url)?
            .iter()
            .filter(|t| t.published <= self.cfg.today)
            .filter_map(|t| XenVersion::parse(t.name.strip_prefix("RELEASE-")?).ok())
            .filter(|x| {
                (x.major, x.minor) == stream.series && *x > pkg.current.xen && !qubes.contains(x)
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out.iter().map(|x| x.to_string()).collect())
    }

    fn bump_one(&self, pkg: &Followed, state: &mut State, report: &mut RunReport) -> StepResult {
        let current = pkg.current.to_string();
        let Some(stream) = &pkg.stream else {
            return Ok(Outcome::Pinned { current });
        };
        let listed = self.listed(&pkg.qubes_repo)?;
        let seen = state.seen_tags.entry(pkg.qubes_repo.clone()).or_default();
        let mut new: Vec<String> = listed
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| !seen.contains(n))
            .collect();
        new.sort();
        new.dedup();
        if !new.is_empty() {
            seen.extend(new.iter().cloned());
            seen.sort();
            report.new_tags.insert(pkg.qubes_repo.clone(), new);
        }

        // This run's branch already bumped the package (a rerun, or a run killed
        // after its commit): report that commit, plan nothing more today. Bumps are
        // found by their trailer, never by parsing subjects (people write subjects).
        if !self.cfg.dry_run {
            if let Some((commit, bump)) = self.committed_bump(&pkg.package, &current)? {
                let from = bump.from.to_string();
                record_landed(state, pkg, &from, &current, self.branch, &commit);
                self.save(state, Step::Commit)?;
                return Ok(Outcome::AlreadyCommitted {
                    from,
                    to: current,
                    commit,
                });
            }
        }

        let bump = match plan_bump(
            stream,
            &pkg.current,
            &listed,
            self.cfg.today,
            &self.cfg.landing,
        ) {
            Ok(b) => b,
            Err(Skip::UpToDate) => return Ok(Outcome::UpToDate { current }),
            Err(Skip::NotYetLanded { tag, lands_on }) => {
                return Ok(Outcome::Waiting {
                    current,
                    tag,
                    lands_on,
                })
            }
        };
        let (from, to) = (bump.from.to_string(), bump.to.to_string());
        if self.cfg.dry_run {
            return Ok(Outcome::Planned {
                from,
                to,
                tag: bump.tag,
            });
        }
        let subject = format!("{}: {from} -> {to}", pkg.package);
        self.enter(state, pkg, &to, Step::Update)?;
        self.repo
            .clean(self.work_root)
            .map_err(|e| (Step::Update, e.to_string()))?;
        let body = self
            .packages
            .update(self.defs, &pkg.package, &bump.to)
            .map_err(|e| (Step::Update, e.to_string()))?;
        let body = with_trailer(&body, &pkg.package, &from, &to);
        let defs_rel = self.cfg.definitions.as_str();
        if !self
            .repo
            .has_changes(self.work_root, defs_rel)
            .map_err(|e| (Step::Update, e.to_string()))?
        {
            return Err((
                Step::Update,
                format!("the update to {to} changed nothing in {defs_rel}/"),
            ));
        }

        self.enter(state, pkg, &to, Step::Gate)?;
        run_gate(self.cfg, self.work_root, &pkg.package, &to).map_err(|e| (Step::Gate, e))?;

        self.enter(state, pkg, &to, Step::Commit)?;
        let also = self.packages.also_commit();
        let mut paths = vec![defs_rel];
        paths.extend(also.iter().map(String::as_str));
        let commit = self
            .repo
            .commit(
                self.work_root,
                &paths,
                &subject,
                &body,
                self.cfg.signing_key.as_deref(),
            )
            .map_err(|e| (Step::Commit, e.to_string()))?;
        record_landed(state, pkg, &from, &to, self.branch, &commit);
        self.save(state, Step::Commit)?;
        // Leave nothing behind that the update wrote beside the definitions (locks, temps).
        self.repo
            .clean(self.work_root)
            .map_err(|e| (Step::Commit, e.to_string()))?;
        Ok(Outcome::Bumped { from, to, commit })
    }
}

/// The commit trailer that records a bump, `Qubes-Xen-Kit-Bump: <package> <from> -> <to>`:
/// what a rerun reads to know a bump is already on the branch.
pub const BUMP_TRAILER: &str = "Qubes-Xen-Kit-Bump";

/// A parsed [`BUMP_TRAILER`] value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BumpTrailer {
    pub package: String,
    pub from: QubesVersion,
    pub to: QubesVersion,
}

impl BumpTrailer {
    /// Parses `<package> <from> -> <to>` exactly: one space between fields, a package name
    /// of `[a-z0-9-]`, and versions written as the bot writes them.
    pub fn parse(value: &str) -> Result<Self, String> {
        let expected = "expected `<package> <version>-<rel> -> <version>-<rel>`";
        let fields: Vec<&str> = value.split(' ').collect();
        let [package, from, "->", to] = fields[..] else {
            return Err(format!("found {value:?}; {expected}"));
        };
        if package.is_empty()
            || !package
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "package name {package:?} is not `[a-z0-9-]+`; {expected}"
            ));
        }
        let version = |s: &str| match QubesVersion::parse(s) {
            Ok(v) if v.to_string() == s => Ok(v),
            Ok(v) => Err(format!("version {s:?} is not written as {v}; {expected}")),
            Err(e) => Err(format!("version {s:?}: {e}; {expected}")),
        };
        Ok(Self {
            package: package.to_string(),
            from: version(from)?,
            to: version(to)?,
        })
    }
}

/// The commit body: the update report, then the bump trailer as the last paragraph.
fn with_trailer(body: &str, package: &str, from: &str, to: &str) -> String {
    let trailer = format!("{BUMP_TRAILER}: {package} {from} -> {to}");
    match body.trim_end() {
        "" => trailer,
        b => format!("{b}\n\n{trailer}"),
    }
}

fn record_landed(
    state: &mut State,
    pkg: &Followed,
    from: &str,
    to: &str,
    branch: &str,
    commit: &str,
) {
    let p = state.package(&pkg.package);
    p.in_progress = None;
    if !p.landed.iter().any(|l| l.commit == commit) {
        p.landed.push(Landed {
            from: from.to_string(),
            to: to.to_string(),
            branch: branch.to_string(),
            commit: commit.to_string(),
        });
    }
}

/// Runs the build gate in the worktree.
fn run_gate(cfg: &BotConfig, work_root: &Path, package: &str, version: &str) -> Result<(), String> {
    for argv in &cfg.gate {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| {
                a.replace("{package}", package)
                    .replace("{version}", version)
            })
            .collect();
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let mut cmd = qxk_process::Cmd::new(program);
        cmd.args(args);
        process::run_gate(cmd, work_root, cfg.gate_timeout).map_err(|e| e.to_string())?;
    }
    Ok(())
}
