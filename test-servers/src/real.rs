//! The real upstream repositories of `../shared/fixtures/git/` (bare repositories packed in tar
//! files) served on loopback by `git http-backend`, with the URL rewrites that send their real
//! URLs there. Tests then run the project's code on the real URLs of the definitions.
//!
//! ```no_run
//! let real = test_servers::RealRepos::serve().unwrap();
//! // For `package-defs`: PACKAGE_DEFS_URL_REWRITE="FROM=TO;FROM=TO".
//! let env = real.rewrite_env();
//! // For source-fetch's UrlRewrites::push, one rule per repository.
//! for (from, to) in real.rewrites() {
//!     println!("{from} -> {to}");
//! }
//! # let _ = env;
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{GitServer, HttpServer};

/// Each fixture tar (`<name>.git.tar`) and the real URL it is a copy of (as the definitions
/// spell it).
pub const REAL_REPOS: &[(&str, &str)] = &[
    ("qubes-vmm-xen", "https://github.com/QubesOS/qubes-vmm-xen"),
    ("xen", "https://xenbits.xen.org/git-http/xen.git"),
    // Qubes' guest components (whole history up to 2026-03-01).
    (
        "qubes-core-vchan-xen",
        "https://github.com/QubesOS/qubes-core-vchan-xen",
    ),
    (
        "qubes-core-qubesdb",
        "https://github.com/QubesOS/qubes-core-qubesdb",
    ),
    (
        "qubes-core-qrexec",
        "https://github.com/QubesOS/qubes-core-qrexec",
    ),
    (
        "qubes-linux-utils",
        "https://github.com/QubesOS/qubes-linux-utils",
    ),
    (
        "qubes-core-agent-linux",
        "https://github.com/QubesOS/qubes-core-agent-linux",
    ),
];

/// The tags the tests use, per repository of [`REAL_REPOS`]: fetched from upstream when no
/// shared folder is here, each checked with the pinned keys (`definitions/keys/`).
pub const UPSTREAM_TAGS: &[(&str, &[&str])] = &[
    ("qubes-vmm-xen", &["v4.17.4-5", "v4.17.6-6", "v4.19.4-9"]),
    (
        "xen",
        &["RELEASE-4.17.4", "RELEASE-4.17.6", "RELEASE-4.19.4"],
    ),
];

/// The shared folder of real data, found in this order: `QXK_SHARED_DIR`; `../shared` beside
/// the clone (as in CI); a copy of the real repositories fetched from upstream into
/// `$XDG_CACHE_HOME/qubes-xen-kit/shared` (or `~/.cache/...`), outside the tree, each tag
/// verified with the pinned keys. When none is there, the test process ends with one line
/// naming what is missing and how to get it.
pub fn shared_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    match locate(
        std::env::var_os("QXK_SHARED_DIR").map(PathBuf::from),
        &beside,
        &upstream_cache(),
        &[],
    ) {
        Ok(dir) => dir,
        Err(line) => {
            // Straight to the process's stderr: the test harness captures `eprintln!`, and
            // the exit would lose it.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("error: {line}\n").as_bytes(),
            );
            std::process::exit(101);
        }
    }
}

/// `$XDG_CACHE_HOME/qubes-xen-kit/shared`, else `~/.cache/qubes-xen-kit/shared`.
pub fn upstream_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("qubes-xen-kit/shared")
}

/// [`shared_dir`]'s choice: `env` (must exist), else `beside`, else `cache` (filled from
/// upstream when empty; `rewrites` send the real URLs elsewhere, as tests of this do), else
/// the one-line error.
pub fn locate(
    env: Option<PathBuf>,
    beside: &Path,
    cache: &Path,
    rewrites: &[(String, String)],
) -> Result<PathBuf, String> {
    if let Some(dir) = env {
        if dir.join("fixtures/git").is_dir() {
            return Ok(dir);
        }
        return Err(format!(
            "QXK_SHARED_DIR={}: no fixtures/git in it; point it at a copy of the project's shared folder",
            dir.display()
        ));
    }
    if beside.join("fixtures/git").is_dir() {
        return Ok(beside.to_path_buf());
    }
    if cache.join(".complete").is_file() {
        return Ok(cache.to_path_buf());
    }
    fetch_upstream(cache, rewrites).map(|()| cache.to_path_buf()).map_err(|why| {
        format!(
            "the real repositories are missing: QXK_SHARED_DIR is unset, {} does not exist, and fetching them from upstream into {} failed ({why}); set QXK_SHARED_DIR to a copy of the project's shared folder, or run where {} is reachable",
            beside.display(),
            cache.display(),
            REAL_REPOS.iter().map(|(_, u)| *u).collect::<Vec<_>>().join(" and ")
        )
    })
}

/// Fetches [`UPSTREAM_TAGS`] of every repository into `cache/fixtures/git/<name>.git.tar`, as
/// the shared folder holds them, after `git verify-tag` with the pinned keys accepts each tag.
/// Built in a sibling folder and renamed into place: a failed or concurrent fetch leaves no
/// half-filled cache.
fn fetch_upstream(cache: &Path, rewrites: &[(String, String)]) -> Result<(), String> {
    let parent = cache.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = tempfile::tempdir_in(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let gnupg = tmp.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).map_err(|e| e.to_string())?;
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../definitions/keys");
    let mut import = Command::new("gpg");
    import
        .arg("--batch")
        .arg("--quiet")
        .arg("--homedir")
        .arg(&gnupg)
        .arg("--import");
    for k in std::fs::read_dir(&keys).map_err(|e| format!("{}: {e}", keys.display()))? {
        import.arg(k.map_err(|e| e.to_string())?.path());
    }
    run(&mut import)?;
    let out = tmp.path().join("shared");
    let git_dir = out.join("fixtures/git");
    std::fs::create_dir_all(&git_dir).map_err(|e| e.to_string())?;
    for (name, url) in REAL_REPOS {
        let tags = UPSTREAM_TAGS
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, t)| t);
        let bare = tmp.path().join(format!("{name}.git"));
        run(Command::new("git")
            .arg("init")
            .arg("-q")
            .arg("--bare")
            .arg(&bare))?;
        let mut fetch = git_in(&bare, rewrites);
        // Bounded: a stalled transfer gives up after a minute without data.
        fetch.args(["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=60"]);
        fetch.args(["fetch", "-q", "--depth", "1", url]);
        fetch.args(tags.iter().map(|t| format!("refs/tags/{t}:refs/tags/{t}")));
        run(&mut fetch)?;
        for t in tags {
            let mut verify = git_in(&bare, rewrites);
            verify.env("GNUPGHOME", &gnupg).args(["verify-tag", t]);
            run(&mut verify)
                .map_err(|e| format!("{url} tag {t} is not signed by a pinned key: {e}"))?;
        }
        let tar = git_dir.join(format!("{name}.git.tar"));
        run(Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(tmp.path())
            .arg(format!("{name}.git")))?;
    }
    std::fs::write(out.join(".complete"), "").map_err(|e| e.to_string())?;
    match std::fs::rename(&out, cache) {
        Ok(()) => Ok(()),
        // Another process filled it meanwhile.
        Err(_) if cache.join(".complete").is_file() => Ok(()),
        Err(e) => Err(format!("{}: {e}", cache.display())),
    }
}

fn git_in(dir: &Path, rewrites: &[(String, String)]) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).env("GIT_TERMINAL_PROMPT", "0");
    for (from, to) in rewrites {
        c.arg("-c").arg(format!("url.{to}.insteadOf={from}"));
    }
    c
}

fn run(c: &mut Command) -> Result<(), String> {
    let o = c
        .output()
        .map_err(|e| format!("{:?}: {e}", c.get_program()))?;
    if o.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&o.stderr);
    Err(format!(
        "`{} {}` failed: {}",
        c.get_program().to_string_lossy(),
        c.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        err.trim().lines().last().unwrap_or("")
    ))
}

/// The real repositories, unpacked into a temporary folder and served until dropped.
pub struct RealRepos {
    http: HttpServer,
    _git: GitServer,
    rewrites: Vec<(String, String)>,
}

impl RealRepos {
    /// Unpack every repository of [`REAL_REPOS`] from `shared_dir()/fixtures/git` and serve it.
    /// A shallow repository (Xen's) sends no tag to a plain `git fetch URL tag X`: fetch with
    /// `--depth 1`.
    pub fn serve() -> std::io::Result<Self> {
        let http = HttpServer::start()?;
        let git = GitServer::mount(&http)?;
        let fixtures = shared_dir().join("fixtures/git");
        let mut rewrites = Vec::new();
        for (name, url) in REAL_REPOS {
            let tar = fixtures.join(format!("{name}.git.tar"));
            let out = Command::new("tar")
                .arg("-xf")
                .arg(&tar)
                .arg("-C")
                .arg(git.root())
                .output()?;
            if !out.status.success() || !git.root().join(format!("{name}.git/HEAD")).is_file() {
                return Err(std::io::Error::other(format!(
                    "{}: cannot unpack a bare repository {name}.git: {}",
                    tar.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            rewrites.push((url.to_string(), git.url(name)));
        }
        Ok(Self {
            http,
            _git: git,
            rewrites,
        })
    }

    /// `(real URL, loopback URL)` for each repository.
    pub fn rewrites(&self) -> &[(String, String)] {
        &self.rewrites
    }

    /// The rewrites as `PACKAGE_DEFS_URL_REWRITE` takes them: `FROM=TO;FROM=TO`.
    pub fn rewrite_env(&self) -> String {
        self.rewrites
            .iter()
            .map(|(from, to)| format!("{from}={to}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The served bare repository `name` (of [`REAL_REPOS`]), for tests that make the server
    /// lie (say, a ref moved to another tag object).
    pub fn git_dir(&self, name: &str) -> PathBuf {
        self._git.root().join(format!("{name}.git"))
    }

    /// The server, to count requests or inject faults.
    pub fn http(&self) -> &HttpServer {
        &self.http
    }
}
