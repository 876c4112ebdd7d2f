//! The process layer against real programs (sh, cat, sleep): pipes, limits and messages.
use std::time::{Duration, Instant};

use qxk_process::{Cmd, Error, Limit};

#[test]
fn large_stdin_and_stdout_at_once_do_not_deadlock() {
    // cat echoes as it reads: with stdin written before stdout is drained, both pipes fill
    // (64 KiB each) and the two processes wait on each other forever.
    let input: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let out = Cmd::new("cat")
        .stdin(input.clone())
        .timeout(Duration::from_secs(120))
        .run()
        .expect("cat");
    assert!(
        out.stdout == input,
        "cat returned {} bytes",
        out.stdout.len()
    );
}

#[test]
fn total_timeout_kills() {
    let t = Instant::now();
    let e = Cmd::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(300))
        .run()
        .expect_err("must time out");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::TimedOut {
                limit: Limit::Total,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.starts_with("`sleep 30` ran longer than 0.3 s, killed"),
        "{msg}"
    );
}

#[test]
fn inactivity_timeout_kills_a_silent_program_but_not_a_talking_one() {
    let e = Cmd::new("sh")
        .args(["-c", "echo working; echo almost >&2; sleep 30"])
        .inactivity_timeout(Duration::from_millis(500))
        .merge_stderr()
        .run()
        .expect_err("must time out");
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::TimedOut {
                limit: Limit::Inactivity,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("printed nothing for 0.5 s, killed"), "{msg}");
    assert!(msg.ends_with(":\nworking\nalmost"), "{msg}");
    // 1.5 s in all, never 0.5 s without a line: it runs to the end.
    let out = Cmd::new("sh")
        .args(["-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.25; done"])
        .inactivity_timeout(Duration::from_millis(1500))
        .run()
        .expect("steady output is activity");
    assert_eq!(out.stdout_lossy(), "1\n2\n3\n4\n5\n6\n");
}

#[test]
fn a_left_behind_child_holding_the_pipes_is_killed_with_the_group() {
    let t = Instant::now();
    let e = Cmd::new("sh")
        .args(["-c", "sleep 30 & echo started"])
        .timeout(Duration::from_millis(800))
        .kill_process_group()
        .run()
        .expect_err("the pipes stay open while sleep runs");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(matches!(e, Error::TimedOut { .. }), "{e}");
}

#[test]
fn failure_names_program_args_and_stderr_tail() {
    let script = "echo out; for i in $(seq 1 40); do echo line$i >&2; done; exit 3";
    let e = Cmd::new("sh")
        .args(["-c", script])
        .run()
        .expect_err("exit 3");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "`sh -c {script}` failed (exit status: 3):\nline26\n"
        )),
        "{msg}"
    );
    assert!(msg.ends_with("line40"), "{msg}");
    assert!(!msg.contains("\nout\n"), "stdout is not stderr: {msg}");
    assert!(matches!(e, Error::Failed { .. }), "{e}");
    // `output` gives any status back.
    let o = Cmd::new("sh")
        .args(["-c", "exit 4"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn a_missing_program_says_so() {
    let e = Cmd::new("qxk-no-such-program")
        .arg("--x")
        .run()
        .expect_err("missing");
    assert!(matches!(e, Error::Spawn { .. }));
    assert_eq!(e.program(), "qxk-no-such-program");
    assert!(
        e.to_string()
            .starts_with("cannot run `qxk-no-such-program --x`: No such file"),
        "{e}"
    );
}

#[test]
fn stdin_closed_early_is_not_an_error_of_ours() {
    // `true` never reads: the writer thread gets EPIPE, the run still succeeds.
    let out = Cmd::new("true")
        .stdin(vec![0u8; 1024 * 1024])
        .timeout(Duration::from_secs(60))
        .run()
        .expect("true");
    assert!(out.status.success());
}
