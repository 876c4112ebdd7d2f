//! `run_logged`, the runner of long build steps: output reaches the log and the callback as it
//! comes, a silent or overlong command is killed with every process it started, and errors
//! carry the log's tail and path.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qxk_process::{Cmd, LOG_TAIL_BYTES};

fn sh(script: &str, dir: &Path) -> Cmd {
    let mut c = Cmd::new("sh");
    c.arg("-c").arg(script).current_dir(dir);
    c
}

#[test]
fn lines_reach_the_log_and_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    sh(
        "echo one; echo two >&2; pwd; printf 'no newline'",
        dir.path(),
    )
    .timeout(Duration::from_secs(120))
    .run_logged(&log, move |l| s.lock().unwrap().push(l.to_string()))
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let seen = seen.lock().unwrap();
    for want in [
        "one",
        "two",
        &dir.path().display().to_string(),
        "no newline",
    ] {
        assert!(seen.iter().any(|l| l == want), "{want} not seen: {seen:?}");
        assert!(text.contains(want), "{want} not in log:\n{text}");
    }
    assert!(
        text.starts_with("$ (cd "),
        "the log names the command first:\n{text}"
    );
}

#[test]
fn a_failure_names_the_command_and_shows_the_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    let e = sh("echo 'compile error: foo.c:3'; exit 2", dir.path())
        .timeout(Duration::from_secs(120))
        .run_logged(&log, |_| {})
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("failed (exit status: 2)"), "{msg}");
    assert!(msg.contains("compile error: foo.c:3"), "{msg}");
    assert!(msg.contains(&log.display().to_string()), "{msg}");
}

#[test]
fn a_large_output_goes_to_the_log_and_only_its_tail_stays_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("step.log");
    // 32 MiB of numbered lines, then a failure.
    let e = sh("seq 1 4000000; exit 1", dir.path())
        .timeout(Duration::from_secs(120))
        .run_logged(&log, |_| {})
        .unwrap_err();
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > 25_000_000, "log has {len} bytes");
    let qxk_process::Error::Failed { output, .. } = &e else {
        panic!("{e}");
    };
    assert!(
        output.len() < 2 * LOG_TAIL_BYTES + 200,
        "{} bytes kept",
        output.len()
    );
    assert!(output.contains("\n4000000\n"), "the last line is kept");
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
    let e = sh(&script, dir.path())
        .timeout(Duration::from_secs(600))
        .inactivity_timeout(Duration::from_secs(2))
        .run_logged(&log, |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("printed nothing for 2 s"), "{e}");
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
    let e = sh("while true; do echo tick; sleep 0.2; done", dir.path())
        .timeout(Duration::from_secs(2))
        .inactivity_timeout(Duration::from_secs(60))
        .run_logged(&log, |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("ran longer than 2 s"), "{e}");
    assert!(e.to_string().contains(&log.display().to_string()), "{e}");
}
