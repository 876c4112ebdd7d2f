//! A loopback git server: `git http-backend` (real smart HTTP, as forges serve it) run as CGI
//! behind [`HttpServer`], over bare repositories the test builds commit by commit, with annotated
//! tags signed by a [`GpgKey`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::http::{HttpServer, RequestRecord};
use crate::GpgKey;

/// Repositories under a temp root, served at `/git/<name>.git` of an [`HttpServer`].
pub struct GitServer {
    root: tempfile::TempDir,
    base: String,
}

fn cgi(root: &Path, rec: &RequestRecord, body: &[u8], out: &mut TcpStream) -> std::io::Result<()> {
    let (path, query) = rec.target.split_once('?').unwrap_or((&rec.target, ""));
    let path_info = path.strip_prefix("/git").unwrap_or(path);
    let header = |n: &str| {
        rec.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let mut c = Command::new("git");
    c.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &rec.method)
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(t) = header("content-type") {
        c.env("CONTENT_TYPE", t);
    }
    if let Some(p) = header("git-protocol") {
        c.env("GIT_PROTOCOL", p);
    }
    if let Some(e) = header("content-encoding") {
        c.env("HTTP_CONTENT_ENCODING", e);
    }
    let mut child = c.spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let body = body.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let mut outb = Vec::new();
    child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?
        .read_to_end(&mut outb)?;
    let _ = writer.join();
    child.wait()?;
    // CGI output: headers, blank line, body.
    let split = outb
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| outb.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let (head, payload) = match split {
        Some((p, n)) => (
            String::from_utf8_lossy(&outb[..p]).into_owned(),
            &outb[p + n..],
        ),
        None => (String::new(), &outb[..]),
    };
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    for line in head.lines() {
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else if !line.trim().is_empty() {
            headers.push_str(line.trim_end());
            headers.push_str("\r\n");
        }
    }
    write!(
        out,
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    out.write_all(payload)
}

impl GitServer {
    /// Serve repositories from a fresh temp root at `/git/` of `http`.
    pub fn mount(http: &HttpServer) -> std::io::Result<Self> {
        let root = tempfile::Builder::new().prefix("git-server-").tempdir()?;
        let r = root.path().to_path_buf();
        http.mount(
            "/git/",
            Arc::new(move |rec, body, out| cgi(&r, rec, body, out)),
        );
        Ok(Self {
            root,
            base: http.url("/git"),
        })
    }

    /// The folder the served repositories live in.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// The clone URL of repository `name` (`http://127.0.0.1:PORT/git/name.git`).
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.base)
    }

    /// Create an empty bare repository `name` and a builder for it.
    pub fn create_repo(&self, name: &str) -> std::io::Result<RepoBuilder> {
        let git_dir = self.root.path().join(format!("{name}.git"));
        let work = tempfile::Builder::new().prefix("git-work-").tempdir()?;
        let b = RepoBuilder { git_dir, work };
        b.git(
            &["init", "--quiet", "--bare", "--initial-branch=main", "."],
            None,
        )?;
        Ok(b)
    }
}

/// Builds history directly in a served bare repository (`--git-dir` + a separate work tree).
pub struct RepoBuilder {
    git_dir: PathBuf,
    work: tempfile::TempDir,
}

impl RepoBuilder {
    fn git(&self, args: &[&str], key: Option<&GpgKey>) -> std::io::Result<String> {
        let mut c = Command::new("git");
        if args.first() == Some(&"init") {
            std::fs::create_dir_all(&self.git_dir)?;
            c.current_dir(&self.git_dir);
        } else {
            c.arg("--git-dir")
                .arg(&self.git_dir)
                .arg("--work-tree")
                .arg(self.work.path());
        }
        c.args([
            "-c",
            "user.name=Test Tagger",
            "-c",
            "user.email=tagger@example.org",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .stdin(Stdio::null());
        if let Some(k) = key {
            c.env("GNUPGHOME", k.home())
                .args(["-c", &format!("user.signingkey={}", k.fingerprint())]);
        }
        let out = c.args(args).output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The work tree files are staged from (write files here, then [`Self::commit_all`]).
    pub fn work_tree(&self) -> &Path {
        self.work.path()
    }

    /// Write `contents` at `path` in the work tree (parents created).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
        let p = self.work.path().join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, contents)
    }

    /// Commit the whole work tree on `main`; returns the commit id.
    pub fn commit_all(&self, message: &str) -> std::io::Result<String> {
        self.git(&["add", "-A", "."], None)?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message], None)?;
        self.git(&["rev-parse", "HEAD"], None)
    }

    /// An annotated tag on HEAD, signed by `key` when given.
    pub fn tag(&self, name: &str, key: Option<&GpgKey>) -> std::io::Result<()> {
        let flag = if key.is_some() { "-s" } else { "-a" };
        self.git(&["tag", flag, "-m", name, name], key).map(|_| ())
    }

    /// A lightweight (unsigned, object-less) tag on HEAD.
    pub fn lightweight_tag(&self, name: &str) -> std::io::Result<()> {
        self.git(&["tag", name], None).map(|_| ())
    }

    /// The bare repository's path.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }
}
