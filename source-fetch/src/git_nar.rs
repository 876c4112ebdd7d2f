//! NAR hash of a git tree read straight from the object store (`git ls-tree` + `git cat-file
//! --batch`), without writing a checkout: the same value `nix-hash` gives for an export.
//! Hand-written because no crate streams git objects into NAR order (git sorts a tree's entries
//! as if directories ended in `/`, NAR sorts by plain name bytes, so entries are re-sorted).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use content_hash::{Sha256Digest, Sha256Hasher};

use crate::git::{run_git, wait_with_deadline, GitError};

enum Node {
    File { oid: String, exec: bool },
    Link { oid: String },
    Dir(BTreeMap<Vec<u8>, Node>),
}

fn nar_str(h: &mut Sha256Hasher, s: &[u8]) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s);
    h.update(&[0u8; 8][..(8 - s.len() % 8) % 8]);
}

struct Batch<R: BufRead, W: Write> {
    out: R,
    inp: W,
    place: String,
}

impl<R: BufRead, W: Write> Batch<R, W> {
    fn fail(&self, why: String) -> GitError {
        GitError::Failed {
            args: "cat-file --batch".into(),
            place: self.place.clone(),
            stderr: why,
        }
    }

    /// Ask for `oid`; returns its size, leaving the content to be read.
    fn request(&mut self, oid: &str) -> Result<u64, GitError> {
        writeln!(self.inp, "{oid}")
            .and_then(|_| self.inp.flush())
            .map_err(|e| self.fail(e.to_string()))?;
        let mut line = String::new();
        self.out
            .read_line(&mut line)
            .map_err(|e| self.fail(e.to_string()))?;
        let mut it = line.split_whitespace();
        match (it.next(), it.next(), it.next()) {
            (Some(_), Some("blob"), Some(size)) => size
                .parse()
                .map_err(|_| self.fail(format!("bad header {line:?}"))),
            _ => Err(self.fail(format!(
                "unexpected reply {:?} (killed by the timeout?)",
                line.trim()
            ))),
        }
    }

    fn read_into(
        &mut self,
        size: u64,
        h: &mut Sha256Hasher,
        buf: &mut [u8],
    ) -> Result<(), GitError> {
        let mut left = size;
        while left > 0 {
            let n = (left.min(buf.len() as u64)) as usize;
            self.out
                .read_exact(&mut buf[..n])
                .map_err(|e| self.fail(e.to_string()))?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        let mut nl = [0u8; 1];
        self.out
            .read_exact(&mut nl)
            .map_err(|e| self.fail(e.to_string()))
    }

    fn read_small(&mut self, size: u64) -> Result<Vec<u8>, GitError> {
        let mut v = vec![0u8; size as usize + 1];
        self.out
            .read_exact(&mut v)
            .map_err(|e| self.fail(e.to_string()))?;
        v.pop();
        Ok(v)
    }

    fn node(&mut self, n: &Node, h: &mut Sha256Hasher, buf: &mut [u8]) -> Result<(), GitError> {
        nar_str(h, b"(");
        nar_str(h, b"type");
        match n {
            Node::File { oid, exec } => {
                nar_str(h, b"regular");
                if *exec {
                    nar_str(h, b"executable");
                    nar_str(h, b"");
                }
                nar_str(h, b"contents");
                let size = self.request(oid)?;
                h.update(&size.to_le_bytes());
                self.read_into(size, h, buf)?;
                h.update(&[0u8; 8][..((8 - size % 8) % 8) as usize]);
            }
            Node::Link { oid } => {
                nar_str(h, b"symlink");
                nar_str(h, b"target");
                let size = self.request(oid)?;
                let t = self.read_small(size)?;
                nar_str(h, &t);
            }
            Node::Dir(children) => {
                nar_str(h, b"directory");
                for (name, child) in children {
                    nar_str(h, b"entry");
                    nar_str(h, b"(");
                    nar_str(h, b"name");
                    nar_str(h, name);
                    nar_str(h, b"node");
                    self.node(child, h, buf)?;
                    nar_str(h, b")");
                }
            }
        }
        nar_str(h, b")");
        Ok(())
    }
}

/// The NAR sha256 of the tree of `rev` in the repository at `git_dir`.
pub(crate) fn tree_nar_hash(
    git_dir: &Path,
    rev: &str,
    place: &str,
    timeout: Duration,
) -> Result<Sha256Digest, GitError> {
    let listing = run_git(
        &["ls-tree", "-r", "-z", "--full-tree", rev],
        Some(git_dir),
        place,
        timeout,
    )?;
    let mut root = BTreeMap::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let bad = || GitError::Failed {
            args: "ls-tree".into(),
            place: place.to_owned(),
            stderr: format!("unparseable entry {:?}", String::from_utf8_lossy(rec)),
        };
        let tab = rec.iter().position(|&b| b == b'\t').ok_or_else(bad)?;
        let meta = std::str::from_utf8(&rec[..tab]).map_err(|_| bad())?;
        let path = &rec[tab + 1..];
        let mut f = meta.split(' ');
        let (mode, oid) = match (f.next(), f.next(), f.next()) {
            (Some(m), Some(_), Some(o)) => (m, o.to_owned()),
            _ => return Err(bad()),
        };
        let node = match mode {
            "100644" | "100664" => Node::File { oid, exec: false },
            "100755" => Node::File { oid, exec: true },
            "120000" => Node::Link { oid },
            other => {
                return Err(GitError::Failed {
                    args: "ls-tree".into(),
                    place: place.to_owned(),
                    stderr: format!(
                        "entry {} has mode {other} (a submodule?), which a NAR cannot hold",
                        String::from_utf8_lossy(path)
                    ),
                })
            }
        };
        let mut parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        let leaf = parts.pop().ok_or_else(bad)?;
        let mut dir = &mut root;
        for p in parts {
            let e = dir
                .entry(p.to_vec())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match e {
                Node::Dir(d) => d,
                _ => return Err(bad()),
            };
        }
        dir.insert(leaf.to_vec(), node);
    }
    let mut child = Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(git_dir)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| GitError::Spawn {
            args: "cat-file --batch".into(),
            source,
        })?;
    let (Some(inp), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(GitError::Spawn {
            args: "cat-file --batch".into(),
            source: std::io::Error::other("no pipes"),
        });
    };
    // The watchdog kills git past the deadline; our reads then fail with a clear error.
    let watchdog = thread::spawn(move || wait_with_deadline(&mut child, timeout));
    let mut batch = Batch {
        out: BufReader::with_capacity(256 * 1024, out),
        inp,
        place: place.to_owned(),
    };
    let mut h = Sha256Hasher::new();
    nar_str(&mut h, b"nix-archive-1");
    let mut buf = vec![0u8; 256 * 1024];
    let res = batch.node(&Node::Dir(root), &mut h, &mut buf);
    drop(batch); // closes stdin: git exits
    let status = watchdog.join().unwrap_or(Ok(None));
    match (res, status) {
        (_, Ok(None)) => Err(GitError::Timeout {
            args: "cat-file --batch".into(),
            place: place.to_owned(),
            secs: timeout.as_secs(),
        }),
        (Err(e), _) => Err(e),
        (Ok(()), _) => Ok(h.finalize()),
    }
}
