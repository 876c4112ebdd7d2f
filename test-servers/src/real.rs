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

/// `../shared` beside the workspace (as in CI), or `QXK_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("QXK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
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
