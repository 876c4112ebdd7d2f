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
        let out = self
            .command(cmd)
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

/// What a dry run answers every probe it has no answer for. A plausible value (a valid
/// symbol, expression and number token) rather than nothing, so that the dry parse reads the
/// whole tree: an empty answer makes `def_bool $(cc-option,..) || $(cc-option,..)` a syntax
/// error that would end the dry parse there and leave the later probes to run one by one.
pub const DRY_RUN_ANSWER: &[u8] = b"n";

/// Records the commands asked for and answers [`DRY_RUN_ANSWER`]: a dry run that learns
/// which probes a tree needs, so they can run concurrently before the real parse.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    pub commands: Vec<String>,
}

impl ShellProbe for Collector {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        if !self.commands.iter().any(|c| c == cmd) {
            self.commands.push(cmd.to_string());
        }
        Ok(DRY_RUN_ANSWER.to_vec())
    }
}

/// Answers what is known and records (answering [`DRY_RUN_ANSWER`]) what is not: a dry run
/// with the answers so far, which finds the probes that depend on other probes' answers.
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
        Ok(DRY_RUN_ANSWER.to_vec())
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

impl HostShell {
    fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(cmd)
            .current_dir(&self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

/// Runs `commands` on the host all at once and returns their outputs (a command that cannot
/// be started is left out; the real parse then runs it itself and reports the error).
///
/// Every probe is its own short compiler run: all are started before any is waited for, so
/// the machine's cores share them (a probe's output is a line, far below a pipe's buffer, so
/// a child never blocks on us while we wait for another).
pub fn run_concurrently(host: &HostShell, commands: &[String]) -> BTreeMap<String, Vec<u8>> {
    let children: Vec<(&String, std::process::Child)> = commands
        .iter()
        .filter_map(|c| {
            let child = host.command(c).stdout(Stdio::piped()).spawn().ok()?;
            Some((c, child))
        })
        .collect();
    children
        .into_iter()
        .filter_map(|(c, child)| {
            let out = child.wait_with_output().ok()?;
            tracing::debug!(cmd = %c, status = ?out.status, "kconfig shell probe");
            Some((c.clone(), out.stdout))
        })
        .collect()
}
