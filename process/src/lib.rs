//! One way to run an external program (git, make, patch, sfdisk, mke2fs, rpmbuild, qemu, a
//! build gate) for the whole workspace:
//!
//! - a total timeout and an inactivity timeout (no output for so long), after which the
//!   program (or, with [`Cmd::kill_process_group`], its whole process group) is killed;
//! - stdout and stderr drained on their own threads and stdin written from a third, so a
//!   program that writes a lot before it reads all its input cannot deadlock us;
//! - a hardened environment: `LC_ALL=C`, no `GIT_DIR` and friends inherited from a hook, git
//!   never prompting for credentials;
//! - a `tracing` span per run, and errors that name the program, its arguments and the tail
//!   of what it printed.
//!
//! ```no_run
//! use std::time::Duration;
//! let out = qxk_process::Cmd::new("git")
//!     .args(["ls-remote", "--tags", "https://github.com/QubesOS/qubes-vmm-xen"])
//!     .timeout(Duration::from_secs(300))
//!     .inactivity_timeout(Duration::from_secs(60))
//!     .run()?;
//! println!("{}", out.stdout_lossy());
//! # Ok::<(), qxk_process::Error>(())
//! ```
//!
//! Why not `duct` or `subprocess`: neither has an inactivity timeout, and both would still
//! need the drain threads below to bound what a killed program's children keep open;
//! `wait-timeout` does the one part that needs platform code (waiting with a deadline).

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Variables a git hook or a parent git sets that would point our git at another repository.
const GIT_LOCATION_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_CONFIG_PARAMETERS",
];

/// Lines of output an error shows.
const TAIL_LINES: usize = 15;

/// A program to run, with its arguments, environment, input and limits.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Arc<Vec<u8>>>,
    timeout: Option<Duration>,
    inactivity: Option<Duration>,
    merge_stderr: bool,
    group: bool,
    clear_env: bool,
}

/// What a finished program printed.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// Empty with [`Cmd::merge_stderr`] (it went to `stdout`).
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// The limit that stopped a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Cmd::timeout`]: it ran too long in all.
    Total,
    /// [`Cmd::inactivity_timeout`]: it printed nothing for too long.
    Inactivity,
}

/// Why a program did not run to a successful end. Every variant names the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        program: String,
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` {reason}, killed{}", tail(.output))]
    TimedOut {
        program: String,
        command: String,
        /// "ran longer than 300 s" or "printed nothing for 60 s".
        reason: String,
        /// Which limit ran out (for callers that advise differently on each).
        limit: Limit,
        /// What it printed until then (stderr, or both streams when merged).
        output: String,
    },
    #[error("`{command}` failed ({status}){}", tail(.output))]
    Failed {
        program: String,
        command: String,
        status: ExitStatus,
        /// Its stderr (both streams when merged).
        output: String,
    },
    #[error("`{command}`: {source}")]
    Io {
        program: String,
        command: String,
        source: std::io::Error,
    },
}

impl Error {
    /// The program's name as it was given (for messages such as "install it").
    pub fn program(&self) -> &str {
        match self {
            Error::Spawn { program, .. }
            | Error::TimedOut { program, .. }
            | Error::Failed { program, .. }
            | Error::Io { program, .. } => program,
        }
    }

    /// What the program printed (stderr, or both streams when merged), trimmed.
    pub fn output(&self) -> &str {
        match self {
            Error::TimedOut { output, .. } | Error::Failed { output, .. } => output.trim(),
            _ => "",
        }
    }
}

/// The last lines of `output`, after a colon, or nothing.
pub fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.join("\n"))
    }
}

impl Cmd {
    /// `program` with the hardened environment; no timeout until one is set.
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        let mut env: Vec<(OsString, Option<OsString>)> = vec![
            ("LC_ALL".into(), Some("C".into())),
            ("GIT_TERMINAL_PROMPT".into(), Some("0".into())),
            ("GCM_INTERACTIVE".into(), Some("never".into())),
            ("GIT_ASKPASS".into(), None),
            ("SSH_ASKPASS".into(), None),
        ];
        env.extend(GIT_LOCATION_VARS.iter().map(|v| (OsString::from(v), None)));
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: None,
            env,
            stdin: None,
            timeout: None,
            inactivity: None,
            merge_stderr: false,
            group: false,
            clear_env: false,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Cmd {
        self.cwd = Some(dir.into());
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Cmd {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Cmd {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Bytes written to the program's stdin (from a thread, while its output is drained).
    /// Without it stdin is `/dev/null`.
    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Cmd {
        self.stdin = Some(Arc::new(input.into()));
        self
    }

    /// Kill the program once it has run this long.
    pub fn timeout(&mut self, total: Duration) -> &mut Cmd {
        self.timeout = Some(total);
        self
    }

    /// Kill the program once it has printed nothing on stdout or stderr for this long.
    pub fn inactivity_timeout(&mut self, quiet: Duration) -> &mut Cmd {
        self.inactivity = Some(quiet);
        self
    }

    /// Send stderr into stdout's pipe, so the two interleave as on a terminal (build gates:
    /// `cargo test` reports failures on stdout, compilers on stderr).
    pub fn merge_stderr(&mut self) -> &mut Cmd {
        self.merge_stderr = true;
        self
    }

    /// Run in a process group of its own and kill the whole group on a timeout: for `sh -c`
    /// and build commands whose children would otherwise live on and hold the pipes.
    pub fn kill_process_group(&mut self) -> &mut Cmd {
        self.group = true;
        self
    }

    /// Starts from an empty environment (a reproducible build): only what [`Cmd::env`] sets
    /// afterwards, and the hardened variables, reach the program.
    pub fn env_clear(&mut self) -> &mut Cmd {
        self.clear_env = true;
        self
    }

    /// The command line as a shell user would read it, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// Takes over a `std::process::Command` built elsewhere (program, arguments, directory and
/// the variables it sets or removes), on top of the hardened environment.
impl From<&Command> for Cmd {
    fn from(c: &Command) -> Cmd {
        let mut cmd = Cmd::new(c.get_program());
        cmd.args(c.get_args());
        if let Some(d) = c.get_current_dir() {
            cmd.current_dir(d);
        }
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }
}

impl Cmd {
    /// A `std::process::Command` with the same program, arguments, directory and hardened
    /// environment, for callers that stream a program's output themselves (`git archive`,
    /// `tar`); they own its pipes and its limits.
    pub fn std_command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if self.clear_env {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        cmd
    }

    fn program_name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// Runs it; a non-zero exit is an [`Error::Failed`].
    pub fn run(&self) -> Result<Output, Error> {
        let out = self.output()?;
        if out.status.success() {
            return Ok(out);
        }
        let output = if self.merge_stderr {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        Err(Error::Failed {
            program: self.program_name(),
            command: self.display(),
            status: out.status,
            output,
        })
    }

    /// Runs it and returns whatever status it ended with; errors only when it could not be
    /// started, timed out or its pipes failed.
    pub fn output(&self) -> Result<Output, Error> {
        self.output_with(None)
    }

    /// Runs a long step (a build): stdout and stderr, merged as on a terminal, are appended to
    /// `log` and handed line by line to `on_line` (a progress bar) as they come; only the last
    /// [`LOG_TAIL_BYTES`] stay in memory. A failure or timeout names the command and shows the
    /// log's last lines and its path. Implies [`Cmd::kill_process_group`]: `make` leaves
    /// compilers running when only it is killed.
    pub fn run_logged(
        &self,
        log: &Path,
        on_line: impl FnMut(&str) + Send + 'static,
    ) -> Result<(), Error> {
        let mut cmd = self.clone();
        cmd.merge_stderr().kill_process_group();
        let spawn_io = |source| Error::Io {
            program: self.program_name(),
            command: self.display(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(spawn_io)?;
        let cwd = self
            .cwd
            .as_ref()
            .map(|d| format!("cd {}; ", d.display()))
            .unwrap_or_default();
        writeln!(file, "$ ({cwd}{})", self.display()).map_err(spawn_io)?;
        let sink = Sink {
            file,
            on_line: Box::new(on_line),
            partial: Vec::new(),
        };
        let full_log = |output: String| format!("{output}\n(full log: {})", log.display());
        match cmd.output_with(Some(sink)) {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(Error::Failed {
                program: self.program_name(),
                command: self.display(),
                status: out.status,
                output: full_log(out.stdout_lossy()),
            }),
            Err(Error::TimedOut {
                program,
                command,
                reason,
                limit,
                output,
            }) => Err(Error::TimedOut {
                program,
                command,
                reason,
                limit,
                output: full_log(output),
            }),
            Err(e) => Err(e),
        }
    }

    fn output_with(&self, mut sink: Option<Sink>) -> Result<Output, Error> {
        let command = self.display();
        let span = tracing::debug_span!("run", command = %command);
        let _entered = span.enter();
        let started = Instant::now();
        let io = |source| Error::Io {
            program: self.program_name(),
            command: command.clone(),
            source,
        };
        let mut cmd = self.std_command();
        if self.group {
            cmd.process_group(0);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let merged_reader = if self.merge_stderr {
            let (reader, writer) = std::io::pipe().map_err(io)?;
            cmd.stdout(writer.try_clone().map_err(io)?).stderr(writer);
            Some(reader)
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        };
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: self.program_name(),
            command: command.clone(),
            source,
        })?;
        // `cmd` holds the write ends of a merged pipe: drop it or we never see EOF.
        drop(cmd);
        tracing::debug!(pid = child.id(), "started");

        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // A program that exits early closes its stdin; what it printed says why, so EPIPE
            // is not an error of ours.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let last_output = Arc::new(Mutex::new(Instant::now()));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let mut drains = Vec::new();
        let readers: Vec<Box<dyn Read + Send>> = match merged_reader {
            Some(r) => vec![Box::new(r)],
            None => {
                let mut v: Vec<Box<dyn Read + Send>> = Vec::new();
                if let Some(o) = child.stdout.take() {
                    v.push(Box::new(o));
                }
                if let Some(e) = child.stderr.take() {
                    v.push(Box::new(e));
                }
                v
            }
        };
        for r in readers {
            drains.push(drain(r, last_output.clone(), done_tx.clone(), sink.take()));
        }
        drop(done_tx);
        let limits = Limits {
            started,
            total: self.timeout,
            quiet: self.inactivity,
            last_output,
        };
        let waited = wait(&mut child, &limits, &done_rx, drains.len());
        let status = match waited {
            Ok(Some(status)) => status,
            Ok(None) | Err(_) => {
                self.kill(&mut child);
                let output = collected(&drains, self.merge_stderr);
                return match waited {
                    Err(source) => Err(io(source)),
                    Ok(_) => {
                        let reason = limits.reason();
                        let limit = limits.which();
                        tracing::debug!(%reason, "killed");
                        Err(Error::TimedOut {
                            program: self.program_name(),
                            command,
                            reason,
                            limit,
                            output,
                        })
                    }
                };
            }
        };
        let mut bufs: Vec<Vec<u8>> = drains
            .iter()
            .map(|d| std::mem::take(&mut *d.buf.lock().unwrap_or_else(|e| e.into_inner())))
            .collect();
        let stdout = if bufs.is_empty() {
            Vec::new()
        } else {
            bufs.remove(0)
        };
        let stderr = bufs.pop().unwrap_or_default();
        tracing::debug!(%status, elapsed_ms = started.elapsed().as_millis() as u64, "finished");
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    fn kill(&self, child: &mut Child) {
        if self.group {
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A pipe being read to its end on a thread.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
}

/// Bytes of a logged run's output kept in memory for its error message.
pub const LOG_TAIL_BYTES: usize = 64 * 1024;

/// Where a logged run's output goes: a file and a line callback.
struct Sink {
    file: std::fs::File,
    on_line: Box<dyn FnMut(&str) + Send>,
    /// The start of a line whose end has not come yet.
    partial: Vec<u8>,
}

impl Sink {
    fn take(&mut self, chunk: &[u8]) {
        // A full disk must not kill the build; the output still reaches the error message.
        let _ = self.file.write_all(chunk);
        self.partial.extend_from_slice(chunk);
        if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let lines = std::mem::replace(&mut self.partial, rest);
            for line in String::from_utf8_lossy(&lines).lines() {
                (self.on_line)(line.trim_end());
            }
        }
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            (self.on_line)(line.trim_end());
            self.partial.clear();
        }
        let _ = self.file.flush();
    }
}

fn drain(
    mut r: Box<dyn Read + Send>,
    last_output: Arc<Mutex<Instant>>,
    done: mpsc::Sender<()>,
    mut sink: Option<Sink>,
) -> Drain {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    *last_output.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                    let mut kept = b.lock().unwrap_or_else(|e| e.into_inner());
                    kept.extend_from_slice(&chunk[..n]);
                    if let Some(s) = sink.as_mut() {
                        s.take(&chunk[..n]);
                        // Only the tail stays: a build prints hundreds of megabytes.
                        if kept.len() > 2 * LOG_TAIL_BYTES {
                            let cut = kept.len() - LOG_TAIL_BYTES;
                            kept.drain(..cut);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if let Some(s) = sink.as_mut() {
            s.finish();
        }
        let _ = done.send(());
    });
    Drain { buf }
}

/// What a killed program had printed: stderr (the last drain), or the merged stream.
fn collected(drains: &[Drain], merged: bool) -> String {
    let pick = if merged {
        drains.first()
    } else {
        drains.last()
    };
    pick.map(|d| {
        String::from_utf8_lossy(&d.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    })
    .unwrap_or_default()
}

struct Limits {
    started: Instant,
    total: Option<Duration>,
    quiet: Option<Duration>,
    last_output: Arc<Mutex<Instant>>,
}

impl Limits {
    /// How long we may still wait, or `None` when a limit is reached.
    fn remaining(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut left = Duration::from_secs(3600);
        if let Some(t) = self.total {
            left = left.min((self.started + t).checked_duration_since(now)?);
        }
        if let Some(q) = self.quiet {
            let last = *self.last_output.lock().unwrap_or_else(|e| e.into_inner());
            left = left.min((last + q).checked_duration_since(now)?);
        }
        (!left.is_zero()).then_some(left)
    }

    fn which(&self) -> Limit {
        match (self.total, self.quiet) {
            (Some(t), _) if self.started.elapsed() >= t => Limit::Total,
            (_, Some(_)) => Limit::Inactivity,
            _ => Limit::Total,
        }
    }

    fn reason(&self) -> String {
        match (self.total, self.quiet) {
            (Some(t), _) if self.started.elapsed() >= t => {
                format!("ran longer than {}", secs(t))
            }
            (_, Some(q)) => format!("printed nothing for {}", secs(q)),
            (Some(t), None) => format!("ran longer than {}", secs(t)),
            (None, None) => "was stopped".into(),
        }
    }
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Waits for the program to exit and for its pipes to reach EOF (a child it left behind
/// may hold them), within the limits; `Ok(None)` when a limit ran out.
fn wait(
    child: &mut Child,
    limits: &Limits,
    done: &mpsc::Receiver<()>,
    pipes: usize,
) -> std::io::Result<Option<ExitStatus>> {
    let status = loop {
        let Some(left) = limits.remaining() else {
            return Ok(None);
        };
        if let Some(st) = child.wait_timeout(left)? {
            break st;
        }
    };
    let mut open = pipes;
    while open > 0 {
        let Some(left) = limits.remaining() else {
            return Ok(None);
        };
        match done.recv_timeout(left) {
            Ok(()) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(Some(status))
}
