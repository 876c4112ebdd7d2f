//! Running the external tools (sfdisk, mke2fs, debugfs, GNU tar, qemu-img, rpmbuild) through
//! the workspace's process layer, so a failure reports what the tool said instead of a bare
//! exit code, and a tool that reads and writes at once cannot deadlock with us.

use std::ffi::OsStr;
use std::time::Duration;

use crate::error::{ImageError, Result};
use qxk_process::{Cmd, Error};

/// No image step runs this long on any sane input; a hung tool is killed and named.
const TOOL_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Runs `cmd` (stdin set on it, if any); returns stdout. A non-zero exit becomes
/// [`ImageError::Tool`] carrying the tool's stderr and `hint`.
pub fn run(cmd: &mut Cmd, hint: &str) -> Result<Vec<u8>> {
    let fix = if hint.is_empty() {
        String::new()
    } else {
        format!(". Fix: {hint}")
    };
    match cmd.timeout(TOOL_TIMEOUT).run() {
        Ok(out) => Ok(out.stdout),
        Err(Error::Failed {
            program,
            status,
            output,
            ..
        }) => Err(ImageError::Tool {
            tool: tool_name(&program),
            status: status.to_string(),
            stderr: output.trim().to_string(),
            hint: fix,
        }),
        Err(e) => Err(image_error(e, fix)),
    }
}

/// Runs `cmd` and returns whatever status it ended with, for tools whose exit status does
/// not say everything (debugfs exits 0 after failed requests).
pub fn output(cmd: &mut Cmd) -> Result<qxk_process::Output> {
    cmd.timeout(TOOL_TIMEOUT)
        .output()
        .map_err(|e| image_error(e, String::new()))
}

fn image_error(e: Error, hint: String) -> ImageError {
    match e {
        Error::Spawn {
            program, source, ..
        } => ImageError::ToolMissing {
            tool: tool_name(&program),
            source,
        },
        e => ImageError::Process {
            source: Box::new(e),
            hint,
        },
    }
}

/// The program name of a path, for error messages.
fn tool_name(program: &str) -> String {
    program.rsplit('/').next().unwrap_or_default().to_string()
}

/// A command with a fixed locale and timezone so tool output and behaviour do not depend on
/// the caller's environment.
pub fn command(program: impl AsRef<OsStr>) -> Cmd {
    let mut cmd = Cmd::new(program);
    cmd.env("TZ", "UTC");
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool that echoes its input as it reads it (debugfs on a long script, sfdisk) with
    /// more input and output than two pipe buffers: writing all of stdin before draining
    /// stdout, as this module once did, waits forever.
    #[test]
    fn big_input_and_output_at_once_do_not_deadlock() {
        let input: Vec<u8> = b"sif \"/usr/share/doc/some/file\" ctime @0\n".repeat(200_000);
        let out = run(command("cat").stdin(input.clone()), "").expect("cat");
        assert!(out == input, "{} bytes back", out.len());
    }

    #[test]
    fn failures_name_the_tool_its_stderr_and_the_fix() {
        let e = run(
            command("sh").args(["-c", "echo 'mke2fs: Could not allocate block' >&2; exit 1"]),
            "raise `size`",
        )
        .expect_err("exit 1");
        assert_eq!(
            e.to_string(),
            "`sh` failed (exit status: 1): mke2fs: Could not allocate block. Fix: raise `size`"
        );
        let e = run(&mut command("/nonexistent/qxk-tool"), "").expect_err("missing");
        assert!(
            e.to_string()
                .starts_with("cannot run `qxk-tool`: No such file"),
            "{e}"
        );
    }
}
