//! Running the external tools (sfdisk, mke2fs, debugfs, GNU tar, qemu-img, rpmbuild) with
//! their stderr captured, so a failure reports what the tool said instead of a bare exit code.

use crate::error::{ImageError, Result};
use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `cmd`, feeding `stdin` if given; returns stdout. A non-zero exit becomes
/// [`ImageError::Tool`] carrying the tool's stderr and `hint`.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, hint: &str) -> Result<Vec<u8>> {
    let tool = tool_name(cmd);
    tracing::debug!(command = ?cmd, "running");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().map_err(|source| ImageError::ToolMissing {
        tool: tool.clone(),
        source,
    })?;
    if let Some(input) = stdin {
        if let Some(mut pipe) = child.stdin.take() {
            // A tool that exits early closes its stdin; its stderr says why, so ignore EPIPE here.
            let _ = pipe.write_all(input);
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|source| ImageError::ToolMissing {
            tool: tool.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(ImageError::Tool {
            tool,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!(". Fix: {hint}")
            },
        });
    }
    Ok(out.stdout)
}

/// The program name of `cmd`, for error messages.
pub fn tool_name(cmd: &Command) -> String {
    cmd.get_program()
        .to_string_lossy()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A command with a fixed locale and timezone so tool output and behaviour do not depend on
/// the caller's environment.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C").env("TZ", "UTC");
    cmd
}
