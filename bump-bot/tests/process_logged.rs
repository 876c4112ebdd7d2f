//! `run_logged`: output goes to the log and the callback, a silent or overlong command is
//! killed with every process it started, and errors carry the log's tail.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bump_bot::process::{run_logged, Limits};

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

const GENEROUS: Limits = Limits {
    inactivity: Duration::from_secs(60),
    total: Duration::from_secs(120),
};

#[test]
fn lines_reach_the_log_and_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let mut seen = Vec::new();
    run_logged(
        sh("echo one; echo two >&2; pwd"),
        dir.path(),
        &log,
        GENEROUS,
        &mut |l| seen.push(l.to_string()),
    )
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    for want in ["one", "two", &dir.path().display().to_string()] {
        assert!(seen.iter().any(|l| l == want), "{want} not seen: {seen:?}");
        assert!(text.contains(want), "{want} not in log:\n{text}");
    }
}

#[test]
fn a_failure_names_the_command_and_shows_the_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let e = run_logged(
        sh("echo 'compile error: foo.c:3'; exit 2"),
        dir.path(),
        &log,
        GENEROUS,
        &mut |_| {},
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("failed (exit status: 2)"), "{msg}");
    assert!(msg.contains("compile error: foo.c:3"), "{msg}");
    assert!(msg.contains(&log.display().to_string()), "{msg}");
}

fn alive(pid_file: &Path) -> bool {
    let pid = std::fs::read_to_string(pid_file).unwrap();
    Path::new(&format!("/proc/{}", pid.trim())).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn a_silent_command_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let pid = dir.path().join("grandchild.pid");
    let script = format!(
        "sleep 300 & echo $! > {}; echo started; wait",
        pid.display()
    );
    let e = run_logged(
        sh(&script),
        dir.path(),
        &log,
        Limits {
            inactivity: Duration::from_secs(2),
            total: Duration::from_secs(600),
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("inactivity limit"), "{e}");
    assert!(e.to_string().contains("started"), "{e}");
    // The kill reached the whole group, not only `sh`.
    let mut gone = false;
    for _ in 0..100 {
        if !alive(&pid) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone, "the grandchild survived the kill");
}

#[test]
fn a_chatty_command_past_its_total_limit_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let e = run_logged(
        sh("while true; do echo tick; sleep 0.2; done"),
        dir.path(),
        &log,
        Limits {
            inactivity: Duration::from_secs(60),
            total: Duration::from_secs(2),
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("total limit"), "{e}");
}
