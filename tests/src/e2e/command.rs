//! Running host tools with errors that say which tool, how it failed and how to get it.

use super::error::{E2eError, Result};
use std::process::{Command, Output};

/// Debian package that provides each host tool the harness calls.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "qemu-system-x86_64" => "qemu-system-x86",
        "busybox" => "busybox-static",
        "ldd" => "libc-bin",
        "apt-get" | "apt-cache" => "apt",
        "dpkg-deb" | "dpkg-query" => "dpkg",
        "zcat" => "gzip",
        "strip" => "binutils",
        _ => "the package that ships it",
    }
}

/// Runs `cmd` to completion; a non-zero exit is an error carrying stderr.
pub fn output(cmd: &mut Command) -> Result<Output> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|source| E2eError::MissingTool {
        package: package_of(&tool).to_string(),
        tool: tool.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(E2eError::Command {
            command: describe(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Like [`output`], returning stdout as text.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&output(cmd)?.stdout).into_owned())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package_and_the_fix() {
        let e = output(&mut Command::new("qemu-system-x86_64-not-here")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("qemu-system-x86_64-not-here") && msg.contains("setup-debian.sh"),
            "{msg}"
        );
        assert_eq!(package_of("qemu-system-x86_64"), "qemu-system-x86");
    }

    #[test]
    fn a_failing_tool_reports_status_and_stderr() {
        let e = output(Command::new("sh").args(["-c", "echo broken >&2; exit 3"])).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("exit status: 3") && msg.contains("broken"),
            "{msg}"
        );
    }
}
