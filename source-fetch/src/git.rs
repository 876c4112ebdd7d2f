//! Git through the `git` CLI. Chosen over gix: gix has no helpers for signed-tag payloads, its
//! HTTP transport would add a second TLS/HTTP stack to build on 2 cores, and the `git` CLI is the
//! reference implementation every user already has. Every subprocess runs through `qxk-process`
//! under an inactivity limit and a total cap ([`GitLimits`]).
//!
//! Repositories are cached as bare repos under `CACHE/git/<sha256 of the URL>.git`; fetching a
//! tag that is already there (with the expected commit) does no network I/O.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use content_hash::Sha256Digest;

use crate::UrlRewrites;

/// A git operation failed. Names the command, the repository URL or path, and what git said.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git exited non-zero.
    #[error("git {args} ({place}) failed: {stderr}")]
    Failed {
        args: String,
        place: String,
        stderr: String,
    },
    /// git made no progress for too long, or ran past the total cap, and was stopped.
    #[error("git {args} ({place}) was stopped: {why}")]
    Timeout {
        args: String,
        place: String,
        why: String,
    },
    /// git could not be started.
    #[error("running git {args}: {source}; is git installed?")]
    Spawn {
        args: String,
        source: std::io::Error,
    },
    /// The tag does not exist on the remote.
    #[error("tag `{tag}` does not exist at {url}; check the version-rel (see `git ls-remote --tags {url}`)")]
    NoSuchTag { url: String, tag: String },
    /// The tag is lightweight, so it cannot carry a signature.
    #[error("tag `{tag}` in {repo} is not an annotated tag object, so it carries no signature")]
    NotAnnotated { tag: String, repo: String },
    /// The tag now points elsewhere than pinned.
    #[error("tag `{tag}` at {url} points to {actual}, but {expected} was expected; upstream moved the tag")]
    TagMoved {
        url: String,
        tag: String,
        expected: String,
        actual: String,
    },
    /// The checkout folder could not be made.
    #[error("cannot write a checkout to {path}: {source}")]
    Checkout {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Setting up the cache directory failed.
    #[error("git cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A tag as `git ls-remote --tags` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTag {
    /// Name without `refs/tags/`.
    pub name: String,
    /// The object the ref points to (a tag object for annotated tags).
    pub object: String,
    /// The commit it peels to (`^{}`), when the server listed it (annotated tags).
    pub peeled: Option<String>,
}

impl RemoteTag {
    /// The commit this tag names.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.object)
    }
}

/// How long a git command may run: `idle` without writing anything (network commands run
/// with `--progress`, so a transfer that moves data keeps talking), and `total` in all. Like
/// HTTP's read timeout, `idle` stops a stalled server early without killing a long transfer
/// of a big repository that is still moving; `total` bounds a server that trickles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitLimits {
    pub idle: Duration,
    pub total: Duration,
}

impl GitLimits {
    /// The total cap when none is given: an hour, or `idle` if that is longer.
    pub const DEFAULT_TOTAL: Duration = Duration::from_secs(3600);

    /// `idle` without output, and [`GitLimits::DEFAULT_TOTAL`] in all.
    pub fn idle(idle: Duration) -> Self {
        Self {
            idle,
            total: Self::DEFAULT_TOTAL.max(idle),
        }
    }
}

/// Runs git with rewrites and time limits, and keeps the bare-repo cache.
#[derive(Debug, Clone)]
pub struct GitClient {
    root: PathBuf,
    rewrites: UrlRewrites,
    timeout: GitLimits,
    progress: bool,
}

/// A cached bare repository for one URL.
#[derive(Debug, Clone)]
pub struct BareRepo {
    path: PathBuf,
    url: String,
    timeout: GitLimits,
}

/// What git said that matters: its `fatal:`/`error:`/`warning:` lines, without the progress
/// meters `--progress` adds (or the last line when there is no such line).
fn git_message(text: &str) -> String {
    let lines: Vec<&str> = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let important: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            let l = l.strip_prefix("remote: ").unwrap_or(l);
            ["fatal:", "error:", "warning:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    match (important.is_empty(), lines.last()) {
        (false, _) => important.join("; "),
        (true, Some(last)) => last.to_string(),
        (true, None) => String::new(),
    }
}

/// Runs git (never prompting, C locale) under `limits`; returns stdout. `place` names the
/// repository or URL in errors. A network command should be given `--progress`, so that a
/// transfer that still moves data keeps writing and is not taken for a stalled one.
pub fn run(
    args: &[&str],
    cwd: Option<&Path>,
    place: &str,
    limits: GitLimits,
) -> Result<Vec<u8>, GitError> {
    run_git_env(args, &[], cwd, place, limits)
}

/// [`run`] with extra environment variables, through `qxk-process` (hardened
/// environment, pipes drained concurrently, both limits).
fn run_git_env(
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    cwd: Option<&Path>,
    place: &str,
    limits: GitLimits,
) -> Result<Vec<u8>, GitError> {
    let shown = args.join(" ");
    let mut c = qxk_process::Cmd::new("git");
    c.args(args)
        .timeout(limits.total)
        .inactivity_timeout(limits.idle);
    for (k, v) in env {
        c.env(k, v);
    }
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    match c.run() {
        Ok(out) => Ok(out.stdout),
        Err(qxk_process::Error::Failed { output, .. }) => Err(GitError::Failed {
            args: shown,
            place: place.to_owned(),
            stderr: git_message(&output),
        }),
        Err(qxk_process::Error::TimedOut { limit, .. }) => Err(GitError::Timeout {
            args: shown,
            place: place.to_owned(),
            why: timeout_why(limit, limits),
        }),
        Err(qxk_process::Error::Spawn { source, .. } | qxk_process::Error::Io { source, .. }) => {
            Err(GitError::Spawn {
                args: shown,
                source,
            })
        }
    }
}

/// Which limit stopped git, in words that say what to do.
fn timeout_why(limit: qxk_process::Limit, limits: GitLimits) -> String {
    if limit == qxk_process::Limit::Total {
        format!(
            "still running after the total cap of {} s (raise it if the transfer is just slow)",
            limits.total.as_secs()
        )
    } else {
        format!(
            "no progress for {} s; the server may be stalled",
            limits.idle.as_secs()
        )
    }
}

impl GitClient {
    /// A client caching repositories under `cache_root/git`, rewriting URLs with `rewrites`,
    /// stopping any git command after `idle` without progress (and after
    /// [`GitLimits::DEFAULT_TOTAL`] in all).
    pub fn new(cache_root: &Path, rewrites: UrlRewrites, idle: Duration) -> Result<Self, GitError> {
        Self::with_limits(cache_root, rewrites, GitLimits::idle(idle))
    }

    /// [`GitClient::new`] with both limits given.
    pub fn with_limits(
        cache_root: &Path,
        rewrites: UrlRewrites,
        timeout: GitLimits,
    ) -> Result<Self, GitError> {
        let root = cache_root.join("git");
        std::fs::create_dir_all(&root).map_err(|source| GitError::Cache {
            path: root.clone(),
            source,
        })?;
        Ok(Self {
            root,
            rewrites,
            timeout,
            progress: false,
        })
    }

    /// The same client drawing a spinner on stderr while a fetch crosses the network (when
    /// stderr is a terminal): a first fetch of a large repository is otherwise silent.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on && std::io::stderr().is_terminal();
        self
    }

    /// `git fetch --depth 1 -- URL refspec` into `repo`, a spinner saying `what`. Shallow: only
    /// the named trees are needed (Xen: ~8 MB instead of 127 MB of history), and a shallow
    /// server silently sends no tag to a plain fetch into a full repository.
    fn fetch_shallow(
        &self,
        repo: &BareRepo,
        what: String,
        extra: &[&str],
        refspec: &str,
    ) -> Result<Vec<u8>, GitError> {
        let _bar = self.spinner(what);
        let mut args = vec!["fetch", "--progress", "--no-tags", "--depth", "1"];
        args.extend_from_slice(extra);
        args.extend(["--", repo.url.as_str(), refspec]);
        run(&args, Some(&repo.path), &repo.url, self.timeout)
    }

    /// A spinner naming what is fetched; cleared when it is dropped, error or not.
    fn spinner(&self, what: String) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new_spinner()
            .with_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            )
            .with_finish(indicatif::ProgressFinish::AndClear)
            .with_message(what);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// The same client with any one git command capped at `total` in all.
    pub fn with_total(mut self, total: Duration) -> Self {
        self.timeout.total = total;
        self
    }

    /// `url` after rewriting.
    pub fn rewrite(&self, url: &str) -> String {
        self.rewrites.apply(url)
    }

    /// All tags at `url` (network I/O).
    pub fn ls_remote_tags(&self, url: &str) -> Result<Vec<RemoteTag>, GitError> {
        let real = self.rewrite(url);
        let out = run(&["ls-remote", "--tags", &real], None, &real, self.timeout)?;
        let mut tags: Vec<RemoteTag> = Vec::new();
        for line in String::from_utf8_lossy(&out).lines() {
            let Some((obj, rf)) = line.split_once('\t') else {
                continue;
            };
            let Some(name) = rf.strip_prefix("refs/tags/") else {
                continue;
            };
            if let Some(base) = name.strip_suffix("^{}") {
                if let Some(t) = tags.iter_mut().find(|t| t.name == base) {
                    t.peeled = Some(obj.to_owned());
                }
            } else {
                tags.push(RemoteTag {
                    name: name.to_owned(),
                    object: obj.to_owned(),
                    peeled: None,
                });
            }
        }
        Ok(tags)
    }

    /// The cached bare repo for `url` (created empty if new; no network I/O).
    pub fn repo(&self, url: &str) -> Result<BareRepo, GitError> {
        let key = Sha256Digest::of_bytes(url.as_bytes()).to_hex();
        let path = self.root.join(format!("{}.git", &key[..32]));
        if !path.join("HEAD").exists() {
            let tmp = self
                .root
                .join(format!("{}.tmp-{}", &key[..32], std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let tmp_s = tmp.to_string_lossy().into_owned();
            run(
                &["init", "--quiet", "--bare", &tmp_s],
                None,
                &tmp_s,
                self.timeout,
            )?;
            // Atomic: a half-initialised repo is never seen under the real name.
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !path.join("HEAD").exists() {
                    return Err(GitError::Cache { path, source: e });
                }
            }
        }
        Ok(BareRepo {
            path,
            url: self.rewrite(url),
            timeout: self.timeout,
        })
    }

    /// Make `tag` of `url` available locally and return the repo. If the tag is already cached
    /// and points to `expected_commit` (when given), no network I/O happens.
    pub fn fetch_tag(
        &self,
        url: &str,
        tag: &str,
        expected_commit: Option<&str>,
    ) -> Result<BareRepo, GitError> {
        let repo = self.repo(url)?;
        if let Ok(c) = repo.resolve_tag(tag) {
            match expected_commit {
                Some(e) if e != c => {} // moved locally? refetch and compare below
                _ => return Ok(repo),
            }
        }
        let spec = format!("+refs/tags/{tag}:refs/tags/{tag}");
        let r = self.fetch_shallow(
            &repo,
            format!("git fetch tag {tag} from {}", repo.url),
            &[],
            &spec,
        );
        if let Err(GitError::Failed { stderr, .. }) = &r {
            if stderr.contains("couldn't find remote ref") {
                return Err(GitError::NoSuchTag {
                    url: repo.url.clone(),
                    tag: tag.to_owned(),
                });
            }
        }
        r?;
        let got = repo.resolve_tag(tag)?;
        if let Some(e) = expected_commit {
            if e != got {
                return Err(GitError::TagMoved {
                    url: repo.url.clone(),
                    tag: tag.to_owned(),
                    expected: e.to_owned(),
                    actual: got,
                });
            }
        }
        Ok(repo)
    }

    /// Mirrors every tag of `url` into its cached bare repo, shallow (each tag's object and
    /// tagged commit, no history): only what is new crosses the network, tags gone upstream
    /// are pruned and moved ones follow. For listing tags with their dates (the bump bot).
    pub fn fetch_all_tags(&self, url: &str) -> Result<BareRepo, GitError> {
        let repo = self.repo(url)?;
        let fetched = self.fetch_shallow(
            &repo,
            format!("git fetch every tag of {}", repo.url),
            &["--prune", "--force"],
            "+refs/tags/*:refs/tags/*",
        );
        if let Err(e) = fetched {
            // A shallow fetch of a refspec that matches nothing fails without a word; a
            // repository without tags is no error, and it has no tags to keep either. Any
            // other failure (a timeout, a git that cannot start) is returned as it is, not
            // asked again of the same server.
            if !matches!(&e, GitError::Failed { .. }) || !self.ls_remote_tags(url)?.is_empty() {
                return Err(e);
            }
            let cached = repo.for_each_tag("%(refname)")?;
            for name in cached.lines().filter(|l| !l.is_empty()) {
                repo.git(&["update-ref", "-d", name])?;
            }
        }
        Ok(repo)
    }

    /// Whether `commit` is on `branch` of `url` (its head or an ancestor of it): which stream a
    /// tag belongs to when the version alone cannot say (Qubes tags vchan-xen v4.2.8 on
    /// `release4.3` only). The tag cache is shallow, so the branch's history goes to its own
    /// cached bare repo (`history/`), fetched in full once and then only what is new.
    pub fn branch_contains(&self, url: &str, branch: &str, commit: &str) -> Result<bool, GitError> {
        let key = Sha256Digest::of_bytes(url.as_bytes()).to_hex();
        let dir = self.root.join("history");
        let path = dir.join(format!("{}.git", &key[..32]));
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|source| GitError::Cache {
                path: dir.clone(),
                source,
            })?;
            let tmp = dir.join(format!("{}.tmp-{}", &key[..32], std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let tmp_s = tmp.to_string_lossy().into_owned();
            run(
                &["init", "--quiet", "--bare", &tmp_s],
                None,
                &tmp_s,
                self.timeout,
            )?;
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !path.join("HEAD").exists() {
                    return Err(GitError::Cache { path, source: e });
                }
            }
        }
        let repo = BareRepo {
            path,
            url: self.rewrite(url),
            timeout: self.timeout,
        };
        let _bar = self.spinner(format!("git fetch branch {branch} of {}", repo.url));
        let spec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        run(
            &["fetch", "--progress", "--no-tags", "--", &repo.url, &spec],
            Some(&repo.path),
            &repo.url,
            self.timeout,
        )?;
        let out = repo.git(&["rev-list", &format!("refs/heads/{branch}")])?;
        Ok(String::from_utf8_lossy(&out).lines().any(|l| l == commit))
    }

    /// Fetch one commit by id (for streams pinned to a commit of an unmerged branch); no network
    /// I/O when it is already cached.
    pub fn fetch_commit(&self, url: &str, commit: &str) -> Result<BareRepo, GitError> {
        let repo = self.repo(url)?;
        if repo
            .git(&["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .is_ok()
        {
            return Ok(repo);
        }
        let keep = format!("+{commit}:refs/pinned/{commit}");
        self.fetch_shallow(
            &repo,
            format!("git fetch commit {commit} from {}", repo.url),
            &[],
            &keep,
        )?;
        Ok(repo)
    }
}

impl BareRepo {
    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The (rewritten) URL it mirrors.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn place(&self) -> String {
        format!("{} for {}", self.path.display(), self.url)
    }

    /// Local work (no network) prints nothing while it runs: only the total cap applies.
    fn local(&self) -> GitLimits {
        GitLimits {
            idle: self.timeout.total,
            total: self.timeout.total,
        }
    }

    fn git(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        run(args, Some(&self.path), &self.place(), self.local())
    }

    /// The commit id `tag` peels to.
    pub fn resolve_tag(&self, tag: &str) -> Result<String, GitError> {
        let out = self.git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{tag}^{{commit}}"),
        ])?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// One line per cached tag, formatted by `git for-each-ref --format=FORMAT refs/tags`
    /// (e.g. `%(refname:strip=2)%09%(creatordate:unix)`).
    pub fn for_each_tag(&self, format: &str) -> Result<String, GitError> {
        let out = self.git(&["for-each-ref", &format!("--format={format}"), "refs/tags"])?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Drops the cached ref of `tag`, so the next [`GitClient::fetch_tag`] asks the server
    /// again: for a tag that failed verification, which must not stay cached.
    pub fn forget_tag(&self, tag: &str) -> Result<(), GitError> {
        self.git(&["update-ref", "-d", &format!("refs/tags/{tag}")])
            .map(drop)
    }

    /// The raw annotated tag object (`git cat-file tag`), signature included, for
    /// [`crate::verify_git_tag`].
    pub fn raw_tag_object(&self, tag: &str) -> Result<Vec<u8>, GitError> {
        let kind = self.git(&["cat-file", "-t", &format!("refs/tags/{tag}")])?;
        if String::from_utf8_lossy(&kind).trim() != "tag" {
            return Err(GitError::NotAnnotated {
                tag: tag.to_owned(),
                repo: self.place(),
            });
        }
        self.git(&["cat-file", "tag", &format!("refs/tags/{tag}")])
    }

    /// The raw commit object (`git cat-file commit`): its committer line dates a build.
    pub fn raw_commit_object(&self, commit: &str) -> Result<Vec<u8>, GitError> {
        self.git(&["cat-file", "commit", commit])
    }

    /// The contents of `path` at `commit` (a commit id or any rev).
    pub fn read_blob(&self, commit: &str, path: &str) -> Result<Vec<u8>, GitError> {
        self.git(&["cat-file", "blob", &format!("{commit}:{path}")])
    }

    /// Check out the tree of `commit` into `dest` (absent or empty, so that nothing else is
    /// hashed with it) exactly as `git
    /// checkout` writes it, which is what Guix's and Nix's `git-fetch` hash: unlike `git
    /// archive`, no `export-subst` expansion and no `export-ignore` omissions (Xen's
    /// `.gitarchive-info` is `export-subst`). The index lives in a temporary folder of the bare
    /// repository, never in `dest`; user and system git config are ignored, so a user's
    /// `core.autocrlf` cannot change the tree. git itself refuses paths that leave `dest`.
    pub fn checkout_tree(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        let fail = |source| GitError::Checkout {
            path: dest.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dest).map_err(fail)?;
        if std::fs::read_dir(dest).map_err(fail)?.next().is_some() {
            return Err(fail(std::io::Error::other(
                "the folder is not empty; give a new or empty folder",
            )));
        }
        let scratch = tempfile::Builder::new()
            .prefix("checkout-")
            .tempdir_in(&self.path)
            .map_err(|source| GitError::Cache {
                path: self.path.clone(),
                source,
            })?;
        let index = scratch.path().join("index");
        let env = [
            ("GIT_INDEX_FILE", index.as_os_str()),
            ("GIT_CONFIG_NOSYSTEM", "1".as_ref()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".as_ref()),
        ];
        let git_dir = format!("--git-dir={}", self.path.display());
        let work_tree = format!("--work-tree={}", dest.display());
        let place = self.place();
        let rev = format!("{commit}^{{tree}}");
        for args in [
            &[git_dir.as_str(), &work_tree, "read-tree", &rev][..],
            &[
                git_dir.as_str(),
                &work_tree,
                "checkout-index",
                "--all",
                "--force",
            ][..],
        ] {
            run_git_env(args, &env, None, &place, self.local())?;
        }
        Ok(())
    }
}
