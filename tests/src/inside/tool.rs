//! Running tools inside the VM with a deadline, so a hung tool fails its check
//! instead of hanging the whole run until the host's timeout.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The default deadline for one tool call.
pub const T: Duration = Duration::from_secs(30);

/// Runs `program`; its stdout on success, else an error with its stderr.
pub fn run(program: &str, args: &[&str], timeout: Duration) -> Result<String> {
    let out = run_output(program, args, timeout)?;
    if !out.status.success() {
        // The status too: a tool killed by a signal (or the OOM killer) prints nothing.
        bail!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program`; (success, stdout, stderr), failing only if it cannot run or hangs.
pub fn run_status(
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<(bool, String, String)> {
    let out = run_output(program, args, timeout)?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs `program` to its end within `timeout`, failing only if it cannot run or hangs.
fn run_output(program: &str, args: &[&str], timeout: Duration) -> Result<std::process::Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let start = Instant::now();
    // Output of these tools is small: it fits the pipe while we poll.
    while child.try_wait()?.is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            // What it printed before hanging is the best clue to where it hung.
            let out = child.wait_with_output()?;
            bail!(
                "{program} {} did not finish within {timeout:?}; stdout {:?}, stderr {:?}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(child.wait_with_output()?)
}
