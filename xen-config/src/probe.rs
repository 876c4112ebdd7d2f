//! Host probes: Kconfig's `$(shell,...)` asks the build host questions (is the compiler gcc,
//! does it take `-mindirect-branch`?). The answers are behind a trait so that tests and
//! reproducible runs can record them once and replay them.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Runs one `$(shell,cmd)` command and returns its raw standard output.
pub trait ShellProbe {
    /// `Err` carries a human-readable reason (the command could not be started).
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String>;
}

impl<P: ShellProbe + ?Sized> ShellProbe for &mut P {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        (**self).run(cmd)
    }
}

/// Runs commands with `/bin/sh -c` in a working directory, as `conf` does via popen(3).
#[derive(Debug, Clone)]
pub struct HostShell {
    /// Directory the commands run in (the Xen `xen/` directory for a real tree).
    pub cwd: PathBuf,
    /// Extra environment for the commands (what Xen's Makefile exports: CC, LD, ...).
    pub env: Vec<(String, String)>,
}

impl ShellProbe for HostShell {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run /bin/sh in {}: {e}", self.cwd.display()))?;
        tracing::debug!(cmd, status = ?out.status, "kconfig shell probe");
        Ok(out.stdout)
    }
}

/// Wraps another probe and remembers every answer, so a run can be replayed later.
#[derive(Debug, Default, Clone)]
pub struct Recorder<P> {
    pub inner: P,
    pub answers: BTreeMap<String, String>,
}

impl<P: ShellProbe> ShellProbe for Recorder<P> {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        let out = self.inner.run(cmd)?;
        self.answers
            .insert(cmd.to_string(), String::from_utf8_lossy(&out).into_owned());
        Ok(out)
    }
}

/// Answers from a recording; a command that was not recorded is an error, never a guess.
#[derive(Debug, Default, Clone)]
pub struct Replay {
    pub answers: BTreeMap<String, String>,
}

impl ShellProbe for Replay {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        self.answers
            .get(cmd)
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| {
                "no recorded answer for this command; record it with --record-probes".to_string()
            })
    }
}

/// Records the commands asked for and answers nothing: a dry run that learns which probes a
/// tree needs, so they can run concurrently before the real parse.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    pub commands: Vec<String>,
}

impl ShellProbe for Collector {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        if !self.commands.iter().any(|c| c == cmd) {
            self.commands.push(cmd.to_string());
        }
        Ok(Vec::new())
    }
}

/// Answers what is known and records (answering nothing) what is not: a dry run with the
/// answers so far, which finds the probes that depend on other probes' answers.
#[derive(Debug)]
pub struct Discover<'a> {
    pub answers: &'a BTreeMap<String, Vec<u8>>,
    pub new: Vec<String>,
}

impl ShellProbe for Discover<'_> {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        if let Some(a) = self.answers.get(cmd) {
            return Ok(a.clone());
        }
        if !self.new.iter().any(|c| c == cmd) {
            self.new.push(cmd.to_string());
        }
        Ok(Vec::new())
    }
}

/// Answers from prefetched results, running anything not prefetched on the host.
#[derive(Debug, Clone)]
pub struct Prefetched {
    pub answers: BTreeMap<String, Vec<u8>>,
    pub host: HostShell,
}

impl ShellProbe for Prefetched {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        if let Some(a) = self.answers.get(cmd) {
            return Ok(a.clone());
        }
        let out = self.host.run(cmd)?;
        self.answers.insert(cmd.to_string(), out.clone());
        Ok(out)
    }
}

/// Runs `commands` on the host concurrently (host probes are independent compiler runs).
pub fn run_concurrently(host: &HostShell, commands: &[String]) -> BTreeMap<String, Vec<u8>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
        * 2;
    let chunks: Vec<&[String]> = commands
        .chunks(commands.len().div_ceil(threads).max(1))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let mut h = host.clone();
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|c| h.run(c).ok().map(|o| (c.clone(), o)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
