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
