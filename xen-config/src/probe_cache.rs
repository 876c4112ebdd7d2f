//! A persistent cache of host probe answers. Nearly all of an `olddefconfig` run is the dozen
//! `$(shell,...)` compiler checks; their answers only change when the command, its
//! environment or the toolchain changes, so those are the key.
//!
//! The key of an answer is:
//! - the exact command and the environment the probe gets (CC, LD, ARCH, ... as Xen's make
//!   exports them);
//! - the inherited variables that steer the toolchain or the shell (PATH, the locale, since
//!   probes grep tool messages, and GCC's own search variables);
//! - the identity of every program involved: `/bin/sh`, `$CC`, `$LD`, the assembler `as`
//!   (gcc runs it for `as-instr`), and every word of the command that names a file or a
//!   program on PATH. A program is identified by its resolved path, size and mtime (a
//!   package upgrade replaces the file); a word that names nothing on PATH is recorded as
//!   absent, so installing it (e.g. `checkpolicy`) is a miss. Files given relative to the
//!   tree (`./scripts/gcc-version.sh`) are identified by their sha256, so a copy of the same
//!   tree elsewhere hits. The working directory itself is not part of the key: the commands
//!   only depend on it through such relative files.
//!
//! gcc's `cc1` and friends are not stat'ed: they ship in lockstep with the driver, whose
//! identity changes with them. A cache file that cannot be read or parsed is a miss, never an
//! error; saving is atomic (temp file + rename), so concurrent runs never see half a file.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::probe::{HostShell, ShellProbe};

/// Inherited variables that change what the probed tools do or print.
const INHERITED_VARS: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_MESSAGES",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "CCACHE_DIR",
];

const FORMAT: u32 = 1;

/// `$XDG_CACHE_HOME/qubes-xen-kit/kconfig-probes.json`, else `~/.cache/...`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("qubes-xen-kit").join("kconfig-probes.json"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    /// Canonical key (JSON of [`ProbeKey`]) -> answer.
    answers: BTreeMap<String, String>,
}

/// What an answer depends on; serialized canonically (sorted maps) as the cache key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProbeKey {
    pub cmd: String,
    pub env: BTreeMap<String, String>,
    pub inherited: BTreeMap<String, String>,
    /// Word or program -> identity (`path size mtime`, `sha256:...` or `absent`).
    pub tools: BTreeMap<String, String>,
}

/// The cache: loaded once, consulted per probe, saved once.
#[derive(Debug)]
pub struct ProbeCache {
    path: PathBuf,
    answers: BTreeMap<String, String>,
    dirty: bool,
    /// Identity per (cwd, word), so each program is stat'ed once per run.
    identities: BTreeMap<(PathBuf, String), String>,
    pub hits: usize,
    pub misses: usize,
}

impl ProbeCache {
    /// Opens the cache at `path`; a missing or unreadable file is an empty cache.
    pub fn open(path: &Path) -> Self {
        let answers = match std::fs::read(path) {
            Ok(data) => match serde_json::from_slice::<CacheFile>(&data) {
                Ok(f) if f.format == FORMAT => f.answers,
                Ok(_) => BTreeMap::new(),
                Err(e) => {
                    tracing::warn!(path = %path.display(), %e, "ignoring unreadable probe cache");
                    BTreeMap::new()
                }
            },
            Err(_) => BTreeMap::new(),
        };
        ProbeCache {
            path: path.to_path_buf(),
            answers,
            dirty: false,
            identities: BTreeMap::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of answers held.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// The key of `cmd` run by `host` (its cwd resolves relative files, its env is the
    /// probe environment).
    pub fn key(&mut self, host: &HostShell, cmd: &str) -> ProbeKey {
        let env: BTreeMap<String, String> = host.env.iter().cloned().collect();
        let inherited = INHERITED_VARS
            .iter()
            .filter_map(|v| Some((v.to_string(), std::env::var(v).ok()?)))
            .collect();
        let mut words: Vec<String> = vec!["/bin/sh".into(), "as".into()];
        for var in ["CC", "LD"] {
            if let Some(first) = env.get(var).and_then(|v| v.split_whitespace().next()) {
                words.push(first.to_string());
            }
        }
        words.extend(command_words(cmd));
        let mut tools = BTreeMap::new();
        for w in words {
            let id = self
                .identities
                .entry((host.cwd.clone(), w.clone()))
                .or_insert_with(|| identity(&host.cwd, &w))
                .clone();
            tools.insert(w, id);
        }
        ProbeKey {
            cmd: cmd.to_string(),
            env,
            inherited,
            tools,
        }
    }

    fn canonical(key: &ProbeKey) -> String {
        serde_json::to_string(key).unwrap_or_default()
    }

    pub fn get(&mut self, key: &ProbeKey) -> Option<Vec<u8>> {
        let hit = self
            .answers
            .get(&Self::canonical(key))
            .map(|s| s.as_bytes().to_vec());
        if hit.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        hit
    }

    /// Stores an answer. Answers that are not UTF-8 are not cached (none of Xen's are).
    pub fn insert(&mut self, key: &ProbeKey, out: &[u8]) {
        if let Ok(s) = std::str::from_utf8(out) {
            self.answers.insert(Self::canonical(key), s.to_string());
            self.dirty = true;
        }
    }

    /// Writes the cache if it changed (temp file in the same folder, then rename).
    pub fn save(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let file = CacheFile {
            format: FORMAT,
            answers: self.answers.clone(),
        };
        let data = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, &self.path)?;
        self.dirty = false;
        Ok(())
    }
}

/// The words of a shell command that could name a program or a file: split on blanks and
/// shell operators; options (`-x`), assignments and quoted strings' contents are skipped.
fn command_words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_quote: Option<char> = None;
    let mut cur = String::new();
    // The word after `>` is where output goes, not an input: `>> log` must not key on log.
    let mut redirect = false;
    let flush = |cur: &mut String, out: &mut Vec<String>, redirect: &mut bool| {
        let w = std::mem::take(cur);
        if w.is_empty() || std::mem::take(redirect) {
            return;
        }
        let plain = !w.is_empty()
            && !w.starts_with('-')
            && !w.contains('=')
            && !w.contains('$')
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c));
        if plain && !out.contains(&w) {
            out.push(w);
        }
    };
    for c in cmd.chars() {
        match in_quote {
            Some(q) if c == q => in_quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => {
                // Quoted text is data (a pattern, an instruction), never a program.
                cur.clear();
                cur.push('$');
                in_quote = Some(c);
            }
            None if c == '>' => {
                flush(&mut cur, &mut out, &mut redirect);
                redirect = true;
            }
            None if c.is_whitespace() || "|;&(){}<`".contains(c) => {
                flush(&mut cur, &mut out, &mut redirect)
            }
            None => cur.push(c),
        }
    }
    flush(&mut cur, &mut out, &mut redirect);
    out
}

/// How a word is identified: a path relative to `cwd` by content, anything else by resolved
/// path, size and mtime (searched on PATH when it has no slash), or `absent`.
fn identity(cwd: &Path, word: &str) -> String {
    if word.contains('/') {
        let p = Path::new(word);
        if p.is_relative() {
            let full = cwd.join(p);
            if full.is_file() {
                return match content_hash::hash_file(&full) {
                    Ok((d, _)) => format!("sha256:{}", d.to_hex()),
                    Err(_) => "unreadable".into(),
                };
            }
            return "absent".into();
        }
        return stat_identity(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(word);
        if p.is_file() {
            return stat_identity(&p);
        }
    }
    "absent".into()
}

fn stat_identity(p: &Path) -> String {
    let Ok(real) = std::fs::canonicalize(p) else {
        return "absent".into();
    };
    match std::fs::metadata(&real) {
        Ok(m) if m.is_file() => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} {} {}", real.display(), m.len(), mtime)
        }
        // Devices (/dev/null) and folders are not programs.
        Ok(_) => "not-a-file".into(),
        Err(_) => "absent".into(),
    }
}

/// A probe that answers from the cache and asks `inner` (run with `host`'s cwd and env)
/// on a miss, remembering the answer.
pub struct Cached<'a, P> {
    pub cache: &'a mut ProbeCache,
    pub host: HostShell,
    pub inner: P,
}

impl<P: ShellProbe> ShellProbe for Cached<'_, P> {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        let key = self.cache.key(&self.host, cmd);
        if let Some(a) = self.cache.get(&key) {
            return Ok(a);
        }
        let out = self.inner.run(cmd)?;
        self.cache.insert(&key, &out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_skip_options_quotes_and_devices() {
        let w = command_words(
            "{ gcc -Werror -E -x c /dev/null -o /dev/null; } >/dev/null 2>&1 && echo \"y\" || echo \"n\"",
        );
        assert_eq!(w, ["gcc", "c", "/dev/null", "2", "echo"]);
        let w = command_words("echo ran >> /tmp/log; cc");
        assert_eq!(w, ["echo", "ran", "cc"]);
        let w = command_words("printf \"%b\\n\" \"endbr64\" | gcc -c -x assembler -o /dev/null -");
        assert_eq!(w, ["printf", "gcc", "assembler", "/dev/null"]);
        let w = command_words("./scripts/gcc-version.sh gcc");
        assert_eq!(w, ["./scripts/gcc-version.sh", "gcc"]);
    }
}
