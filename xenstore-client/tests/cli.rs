//! The `xs` binary end to end against the test xenstored.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use xenstore_client::Ops;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn write_read_ls_json_and_exit_codes() {
    let s = server();
    assert!(xs(&s, &["write", "/a/b", "1", "/a/c", "x\\ty"])
        .status
        .success());
    assert_eq!(client(&s).read("/a/c").unwrap(), b"x\ty");
    assert_eq!(stdout(&xs(&s, &["read", "-p", "/a/b"])), "/a/b: 1\n");
    let j: serde_json::Value =
        serde_json::from_str(&stdout(&xs(&s, &["--json", "ls", "-r", "-p", "/a"]))).unwrap();
    assert_eq!(
        j,
        serde_json::json!([{"path": "/a/b", "value": "1", "perms": ["n0"]}, {"path": "/a/c", "value": "x\ty", "perms": ["n0"]}])
    );
    assert_eq!(xs(&s, &["read", "/missing"]).status.code(), Some(1));
    assert_eq!(xs(&s, &["exists", "/a", "/missing"]).status.code(), Some(1));
    assert_eq!(xs(&s, &["exists", "/a/b"]).status.code(), Some(0));
    assert_eq!(xs(&s, &["no-such-command"]).status.code(), Some(1));
    let help = xs(&s, &["--help"]);
    assert!(help.status.success() && stdout(&help).contains("Examples:"));
    let err = xs(&s, &["write", "/bad path", "v"]);
    assert_eq!(err.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&err.stderr).contains("is not allowed"));
}

#[test]
fn mkdir_chmod_rm_tidy() {
    let s = server();
    assert!(xs(&s, &["mkdir", "/m/x/y"]).status.success());
    assert!(xs(&s, &["chmod", "-r", "/m", "b0", "r4"]).status.success());
    assert_eq!(s.perms("/m/x/y").unwrap(), ["b0", "r4"]);
    assert_eq!(xs(&s, &["chmod", "/m", "q1"]).status.code(), Some(1));
    assert!(xs(&s, &["rm", "--tidy", "/m/x/y"]).status.success());
    assert!(!client(&s).exists("/m").unwrap(), "empty parents removed");
}

#[test]
fn batch_in_a_transaction_is_atomic() {
    let s = server();
    let run = |input: &str, tx: bool| {
        let mut args = vec!["batch"];
        if tx {
            args.push("-t");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(&args)
            .env("XENSTORED_PATH", s.socket_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(
        "# setup\nwrite /b/1 one\nwrite /b/2 'two words'\nread /b/2\n",
        true,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(stdout(&ok), "two words\n");
    // A failing command aborts the whole transaction: /b/3 must not appear.
    let bad = run("write /b/3 three\nread /b/missing\n", true);
    assert_eq!(bad.status.code(), Some(1));
    assert!(!client(&s).exists("/b/3").unwrap());
    // Without a transaction the first write stays.
    let bad = run("write /b/3 three\nread /b/missing\n", false);
    assert_eq!(bad.status.code(), Some(1));
    assert!(client(&s).exists("/b/3").unwrap());
    let parse = run("write /b/4\n", false);
    assert!(String::from_utf8_lossy(&parse.stderr).contains("stdin line 1"));
}

#[test]
fn watch_with_count_and_timeout() {
    let s = server();
    client(&s).mkdir("/w").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_xs"))
        .args(["--json", "watch", "-n", "2", "--timeout", "10", "/w"])
        .env("XENSTORED_PATH", s.socket_path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the watch to be registered before writing.
    for _ in 0..500 {
        if s.watch_count() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    client(&s).write("/w/x", b"1").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], "/w");
    assert_eq!(lines[1]["path"], "/w/x");
    // Timeout without enough events: exit 1.
    let t = xs(&s, &["watch", "-n", "5", "--timeout", "0.2", "/w"]);
    assert_eq!(t.status.code(), Some(1));
    assert_eq!(stdout(&t), "/w\n");
}

#[test]
fn missing_daemon_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_xs"))
        .args(["read", "/a"])
        .env("XENSTORED_PATH", "/nonexistent/xenstored.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/xenstored.sock") && err.contains("XENSTORED_PATH"),
        "{err}"
    );
}

/// `--generate` needs no subcommand (clap alone refuses `xs --generate ...` for want of one).
#[test]
fn completions_and_man_page_are_generated_without_a_subcommand() {
    for (kind, want) in [("complete-bash", "_xs()"), ("man", ".TH xs")] {
        let out = Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(["--generate", kind])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(want), "{kind}: {text}");
    }
}
