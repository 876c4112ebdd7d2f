//! Running git and the build gate through the workspace's process layer (`qxk-process`):
//! timeouts that kill the whole process group, pipes drained concurrently, git never prompting.

use qxk_process::Cmd;
use std::path::Path;
use std::time::Duration;

pub use qxk_process::Error as CommandError;

/// Runs `cmd` in `dir`, killing it after `timeout`; returns its stdout. An error names the
/// command and shows the tail of its stderr.
pub fn run(mut cmd: Cmd, dir: &Path, timeout: Duration) -> Result<String, CommandError> {
    let out = cmd.current_dir(dir).timeout(timeout).run()?;
    Ok(out.stdout_lossy())
}

/// Runs a build gate command (`sh -c ...`) in `dir`, stdout and stderr interleaved as on a
/// terminal (test runners report failures on stdout, compilers on stderr): an error shows the
/// tail of both. The gate's children die with it on a timeout.
pub fn run_gate(mut cmd: Cmd, dir: &Path, timeout: Duration) -> Result<String, CommandError> {
    let out = cmd
        .current_dir(dir)
        .timeout(timeout)
        .merge_stderr()
        .kill_process_group()
        .run()?;
    Ok(out.stdout_lossy())
}
