//! Git through the `git` CLI. Chosen over gix: gix has no helpers for signed-tag payloads, its
//! HTTP transport would add a second TLS/HTTP stack to build on 2 cores, and the `git` CLI is the
//! reference implementation every user already has. Every subprocess runs under a timeout.
//!
//! Repositories are cached as bare repos under `CACHE/git/<sha256 of the URL>.git`; fetching a
//! tag that is already there (with the expected commit) does no network I/O.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

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
    /// git ran past its time limit and was killed.
    #[error(
        "git {args} ({place}) timed out after {secs} s and was stopped; the server may be stalled"
    )]
    Timeout {
        args: String,
        place: String,
        secs: u64,
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

/// Runs git with rewrites and a timeout, and keeps the bare-repo cache.
#[derive(Debug, Clone)]
pub struct GitClient {
    root: PathBuf,
    rewrites: UrlRewrites,
    timeout: Duration,
}

/// A cached bare repository for one URL.
#[derive(Debug, Clone)]
pub struct BareRepo {
    path: PathBuf,
    url: String,
    timeout: Duration,
}

fn base_cmd() -> Command {
    let mut c = Command::new("git");
    // Never prompt (a test or bot has no terminal); stable, parseable output.
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

/// Wait for `child` up to `timeout`, killing it past that.
pub(crate) fn wait_with_deadline(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Run git; return stdout. `place` names the repo/URL in errors.
pub(crate) fn run_git(
    args: &[&str],
    cwd: Option<&Path>,
    place: &str,
    timeout: Duration,
) -> Result<Vec<u8>, GitError> {
    run_git_env(args, &[], cwd, place, timeout)
}

/// [`run_git`] with extra environment variables.
fn run_git_env(
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    cwd: Option<&Path>,
    place: &str,
    timeout: Duration,
) -> Result<Vec<u8>, GitError> {
    let shown = args.join(" ");
    let mut c = base_cmd();
    c.envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let mut child = c.spawn().map_err(|source| GitError::Spawn {
        args: shown.clone(),
        source,
    })?;
    let out = child.stdout.take().map(|mut s| {
        thread::spawn(move || {
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            b
        })
    });
    let err = child.stderr.take().map(|mut s| {
        thread::spawn(move || {
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            b
        })
    });
    let status = wait_with_deadline(&mut child, timeout).map_err(|source| GitError::Spawn {
        args: shown.clone(),
        source,
    })?;
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    match status {
        None => Err(GitError::Timeout {
            args: shown,
            place: place.to_owned(),
            secs: timeout.as_secs(),
        }),
        Some(s) if s.success() => Ok(stdout),
        Some(_) => Err(GitError::Failed {
            args: shown,
            place: place.to_owned(),
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        }),
    }
}

impl GitClient {
    /// A client caching repositories under `cache_root/git`, rewriting URLs with `rewrites`,
    /// stopping any git command after `timeout`.
    pub fn new(
        cache_root: &Path,
        rewrites: UrlRewrites,
        timeout: Duration,
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
        })
    }

    /// `url` after rewriting.
    pub fn rewrite(&self, url: &str) -> String {
        self.rewrites.apply(url)
    }

    /// All tags at `url` (network I/O).
    pub fn ls_remote_tags(&self, url: &str) -> Result<Vec<RemoteTag>, GitError> {
        let real = self.rewrite(url);
        let out = run_git(&["ls-remote", "--tags", &real], None, &real, self.timeout)?;
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
            run_git(
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
        // Shallow: only the tagged tree is needed (Xen: ~8 MB instead of 127 MB of history),
        // and a shallow server silently sends no tag to a plain fetch into a full repository.
        let r = run_git(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth",
                "1",
                "--",
                &repo.url,
                &spec,
            ],
            Some(&repo.path),
            &repo.url,
            self.timeout,
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
        run_git(
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth",
                "1",
                "--",
                &repo.url,
                &keep,
            ],
            Some(&repo.path),
            &repo.url,
            self.timeout,
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

    fn git(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        run_git(args, Some(&self.path), &self.place(), self.timeout)
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
            run_git_env(args, &env, None, &place, self.timeout)?;
        }
        Ok(())
    }
}
