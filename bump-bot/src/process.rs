//! Running external commands (git, the build gate) with a deadline and their output kept for errors.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command that failed, timed out or could not start; says which and shows its output's tail.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` {what}{}", tail_suffix(.output))]
pub struct CommandError {
    pub command: String,
    pub what: String,
    pub output: String,
}

fn tail_suffix(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.join("\n"))
    }
}

/// Runs `cmd` in `dir`, with stdout+stderr captured, killing it after `timeout`.
pub fn run(mut cmd: Command, dir: &Path, timeout: Duration) -> Result<String, CommandError> {
    let shown = format!("{cmd:?}").replace('"', "");
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| CommandError {
        command: shown.clone(),
        what: format!("could not start: {e}"),
        output: String::new(),
    })?;
    // Drain both pipes on threads so a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("could not be waited for: {e}")),
        }
    };
    let mut output = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    output.push_str(&String::from_utf8_lossy(
        &err_thread.join().unwrap_or_default(),
    ));
    match status {
        Ok(s) if s.success() => Ok(output),
        Ok(s) => Err(CommandError {
            command: shown,
            what: format!("failed ({s})"),
            output,
        }),
        Err(what) => Err(CommandError {
            command: shown,
            what,
            output,
        }),
    }
}

/// How long a long-running command may take: in total, and without printing anything.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No new output for this long means it hangs.
    pub inactivity: Duration,
    pub total: Duration,
}

/// Kills the whole process group: `make` leaves compilers running if only it is killed.
fn kill_group(child: &mut std::process::Child) {
    // SAFETY: kill(2) with a negative pid signals the group the child leads (process_group(0)).
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `n` lines of a log file, for error messages.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs `cmd` in `dir` for long work (builds): stdout and stderr go line by line to the `log`
/// file (appended) and to `on_line`, nothing is kept in memory. The command and every process
/// it starts are killed when it prints nothing for `limits.inactivity` or runs past
/// `limits.total`. Errors name the command and carry the log's tail; the log stays.
pub fn run_logged(
    mut cmd: Command,
    dir: &Path,
    log: &Path,
    limits: Limits,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), CommandError> {
    use std::io::{BufRead, Write};
    use std::os::unix::process::CommandExt;
    let shown = format!("{cmd:?}").replace('"', "");
    let fail = |what: String| CommandError {
        command: shown.clone(),
        what,
        output: format!("{}\n(full log: {})", log_tail(log, 25), log.display()),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| fail(format!("cannot open its log {}: {e}", log.display())))?;
    let _ = writeln!(file, "$ (cd {}; {shown})", dir.display());
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(pipe);
            let mut line = Vec::new();
            while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                if tx.send(std::mem::take(&mut line)).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);
    let start = Instant::now();
    let mut last = Instant::now();
    let mut open = true;
    let status = loop {
        if open {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    last = Instant::now();
                    let _ = file.write_all(&line);
                    on_line(String::from_utf8_lossy(&line).trim_end());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => open = false,
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !open {
            match child.try_wait() {
                Ok(Some(s)) => break Ok(s),
                Ok(None) => {}
                Err(e) => break Err(format!("could not be waited for: {e}")),
            }
        }
        if start.elapsed() >= limits.total {
            kill_group(&mut child);
            break Err(format!(
                "timed out after {}s (total limit) and was killed",
                limits.total.as_secs()
            ));
        }
        if last.elapsed() >= limits.inactivity {
            kill_group(&mut child);
            break Err(format!(
                "printed nothing for {}s (inactivity limit) and was killed",
                limits.inactivity.as_secs()
            ));
        }
    };
    if status.is_ok() {
        // Both pipes are closed by now; a killed run skips this (a daemonised grandchild
        // could hold them open forever).
        for r in readers {
            let _ = r.join();
        }
    }
    let _ = file.flush();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(fail(format!("failed ({s})"))),
        Err(what) => Err(fail(what)),
    }
}
