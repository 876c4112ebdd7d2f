//! `package-defs bot` end to end: the real binary, the real `update`, loopback
//! `git http-backend` repositories with gpg-signed tags, a channel repository the
//! bot commits to (signed commits), two runs at once, and kill -9 mid-run.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_servers::git::{GitServer, RepoBuilder};
use test_servers::{Fault, GpgKey, HttpServer};

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";
/// Tags are made now; the bot runs on a Saturday well after, so they have landed.
const SATURDAY: &str = "2099-01-03";

struct World {
    tmp: tempfile::TempDir,
    _http: HttpServer,
    git: GitServer,
    qubes: RepoBuilder,
    qubes_key: GpgKey,
    bot_key: GpgKey,
    channel: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn spec(version: &'static str, rel: &'static str, extra: &str) -> QubesSpec<'static> {
    let efi = format!("efi{extra}");
    QubesSpec {
        version,
        rel,
        series: chain(&[
            (201, "efi", efi.as_str()),
            (500, "xsa-1", "xsa1"),
            (1000, "qubes", "q"),
        ]),
        dead: vec![],
        config: std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config")).unwrap(),
        configure: "--disable-stubdom",
    }
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let http = HttpServer::start().unwrap();
    let git_server = GitServer::mount(&http).unwrap();
    let qubes_key = GpgKey::generate("Test Qubes Signer <qubes@example.org>", "ed25519").unwrap();
    let xen_key = GpgKey::generate("Test Xen Signer <xen@example.org>", "ed25519").unwrap();
    let bot_key = GpgKey::generate("Bump Bot <bot@example.org>", "ed25519").unwrap();

    // The channel: a git repository holding the shipped definitions, pinned to the test keys.
    let channel = tmp.path().join("channel");
    let dir = channel.join("definitions");
    definitions_for_test_keys(&dir, &qubes_key, &xen_key);
    git(&channel, &["init", "-q", "-b", "main"]);
    git(
        &channel,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "add",
            ".",
        ],
    );
    git(
        &channel,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-q",
            "-m",
            "definitions",
        ],
    );

    let qubes = git_server.create_repo("qubes-vmm-xen").unwrap();
    write_qubes_tree(qubes.work_tree(), &spec("4.17.4", "5", "-old"));
    qubes.commit_all("v4.17.4-5").unwrap();
    qubes.tag("v4.17.4-5", Some(&qubes_key)).unwrap();
    let xen = git_server.create_repo("xen").unwrap();
    write_upstream_tree(xen.work_tree(), "4.17.5", "0x00040e00");
    xen.commit_all("Xen 4.17.5").unwrap();
    xen.tag("RELEASE-4.17.5", Some(&xen_key)).unwrap();
    World {
        tmp,
        _http: http,
        git: git_server,
        qubes,
        qubes_key,
        bot_key,
        channel,
    }
}

impl World {
    fn tag(&self, version: &'static str, rel: &'static str) {
        for e in std::fs::read_dir(self.qubes.work_tree()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        write_qubes_tree(self.qubes.work_tree(), &spec(version, rel, ""));
        let tag = format!("v{version}-{rel}");
        self.qubes.commit_all(&tag).unwrap();
        self.qubes.tag(&tag, Some(&self.qubes_key)).unwrap();
    }

    fn bot(&self, today: &str, extra: &[&str]) -> Command {
        let mut c = bin();
        c.env("GNUPGHOME", self.bot_key.home())
            .env("GIT_AUTHOR_NAME", "Bump Bot")
            .env("GIT_AUTHOR_EMAIL", "bot@example.org")
            .env("GIT_COMMITTER_NAME", "Bump Bot")
            .env("GIT_COMMITTER_EMAIL", "bot@example.org")
            .env(
                "PACKAGE_DEFS_URL_REWRITE",
                format!(
                    "{QUBES_URL}={};{XEN_URL}={}",
                    self.git.url("qubes-vmm-xen"),
                    self.git.url("xen")
                ),
            )
            .arg("--definitions")
            .arg(self.channel.join("definitions"))
            .arg("--cache")
            .arg(self.tmp.path().join("cache"))
            .args([
                "bot",
                "--skip-tarball",
                "--today",
                today,
                "--sign",
                self.bot_key.fingerprint(),
            ])
            .args(extra);
        c
    }

    fn run(&self, today: &str, extra: &[&str]) -> Output {
        self.bot(today, extra).output().unwrap()
    }

    fn branch_log(&self, day: &str) -> Vec<String> {
        let out = git(
            &self.channel,
            &["log", "--format=%s", &format!("main..bot/bumps-{day}")],
        );
        out.lines().map(str::to_string).collect()
    }

    fn state_dir(&self) -> PathBuf {
        self.channel.join(".git/package-defs-bot")
    }
}

#[test]
fn the_bot_bumps_with_the_real_update_and_signs_its_commit() {
    let w = world();
    w.tag("4.17.5", "1");
    let o = w.run(
        SATURDAY,
        &["--gate", "test -f definitions/xen.toml", "--json"],
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let xen = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "xen")
        .unwrap();
    assert_eq!(xen["outcome"], "bumped", "{report}");
    assert_eq!(
        (xen["from"].as_str(), xen["to"].as_str()),
        (Some("4.17.4-5"), Some("4.17.5-1"))
    );
    let next = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "qubes-xen-next")
        .unwrap();
    assert_eq!(
        next["outcome"], "up-to-date",
        "no 4.19 tag on this forge: {report}"
    );

    assert_eq!(w.branch_log(SATURDAY), ["xen: 4.17.4-5 -> 4.17.5-1"]);
    let branch = format!("bot/bumps-{SATURDAY}");
    let body = git(&w.channel, &["log", "-1", "--format=%b", &branch]);
    assert!(
        body.contains("4.17.4-5 -> 4.17.5-1") && body.contains("patches"),
        "the update report is the body:\n{body}"
    );
    let verify = Command::new("git")
        .args(["verify-commit", &branch])
        .current_dir(&w.channel)
        .env("GNUPGHOME", w.bot_key.home())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "commit not signed by the bot key: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let pinned = git(
        &w.channel,
        &["show", &format!("{branch}:definitions/xen.toml")],
    );
    assert!(
        pinned.contains("version = \"4.17.5\"") && pinned.contains("rel = 1"),
        "{pinned}"
    );
    // The user's checkout is untouched: the bot works in its own worktree.
    let main = std::fs::read_to_string(w.channel.join("definitions/xen.toml")).unwrap();
    assert!(main.contains("version = \"4.17.4\""));

    // Same weekend again: nothing new, nothing twice.
    let again = w.run(SATURDAY, &["--gate", "true"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already committed"),
        "{}",
        stdout(&again)
    );
    assert_eq!(w.branch_log(SATURDAY).len(), 1);
}

#[test]
fn a_failing_gate_names_the_package_and_step_and_exits_non_zero() {
    let w = world();
    w.tag("4.17.5", "1");
    let o = w.run(SATURDAY, &["--gate", "echo tests failed >&2; exit 1"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("xen: FAILED at step gate"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("bot run failed: xen at step gate"),
        "{}",
        stderr(&o)
    );
    assert!(w.branch_log(SATURDAY).is_empty());
    // Fixed gate: the rerun finishes the job.
    let o = w.run(SATURDAY, &["--gate", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(w.branch_log(SATURDAY), ["xen: 4.17.4-5 -> 4.17.5-1"]);
}

#[test]
fn two_runs_at_once_never_overlap() {
    let w = world();
    w.tag("4.17.5", "1");
    let slow = ["--gate", "sleep 3"];
    let a = w
        .bot(SATURDAY, &slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second starts while the first holds the lock.
    let lock = w.state_dir().join("bot.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lock.exists()
        || std::fs::read_to_string(&lock)
            .unwrap_or_default()
            .is_empty()
    {
        assert!(Instant::now() < deadline, "first run never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = w.run(SATURDAY, &slow);
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(
        !b.status.success(),
        "the second run must refuse, not wait or overlap"
    );
    assert!(
        stderr(&b).contains("another bot run holds"),
        "{}",
        stderr(&b)
    );
    assert_eq!(w.branch_log(SATURDAY), ["xen: 4.17.4-5 -> 4.17.5-1"]);
}

/// The lock a run takes is held until its last push: between the bump and the push, no
/// other run (not even a dry run) gets in.
#[test]
fn the_run_lock_is_held_from_the_first_step_to_the_last_push() {
    let w = world();
    w.tag("4.17.5", "1");
    let remote = w.tmp.path().join("remote.git");
    git(
        w.tmp.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    let mut child = w
        .bot(
            SATURDAY,
            &["--gate", "true", "--push", remote.to_str().unwrap()],
        )
        .env("BUMP_BOT_HOLD_AT", "publish")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = w.state_dir().join("held-at-publish");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "never reached publish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = w.run(SATURDAY, &["--dry-run"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!other.status.success(), "{}", stdout(&other));
    assert!(
        stderr(&other).contains("another bot run holds"),
        "{}",
        stderr(&other)
    );
    assert_eq!(w.branch_log(SATURDAY), ["xen: 4.17.4-5 -> 4.17.5-1"]);
}

#[test]
fn kill_9_mid_run_then_a_rerun_finishes_the_job() {
    let w = world();
    // One weekend per step the run is killed before, each starting from the last bump merged.
    let weekends = [
        ("update", "2099-01-03", "1"),
        ("gate", "2099-01-10", "2"),
        ("commit", "2099-01-17", "3"),
    ];
    let mut from = "4.17.4-5".to_string();
    for (step, day, rel) in weekends {
        w.tag("4.17.5", rel);
        let mut child = w
            .bot(day, &["--gate", "true"])
            .env("BUMP_BOT_HOLD_AT", step)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let marker = w.state_dir().join(format!("held-at-{step}"));
        let deadline = Instant::now() + Duration::from_secs(120);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "never reached {step}");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        std::fs::remove_file(&marker).unwrap();
        assert!(
            w.branch_log(day).is_empty(),
            "killed before {step}, yet committed"
        );

        let o = w.run(day, &["--gate", "true"]);
        assert!(
            o.status.success(),
            "rerun after kill at {step}: {}\n{}",
            stdout(&o),
            stderr(&o)
        );
        let to = format!("4.17.5-{rel}");
        assert_eq!(
            w.branch_log(day),
            [format!("xen: {from} -> {to}")],
            "after kill at {step}"
        );
        let status = git(&w.state_dir().join("worktree"), &["status", "--porcelain"]);
        assert!(
            status.is_empty(),
            "worktree left dirty after {step}: {status}"
        );
        git(
            &w.channel,
            &["merge", "-q", "--ff-only", &format!("bot/bumps-{day}")],
        );
        from = to;
    }
}

#[test]
fn dry_run_plans_and_touches_nothing() {
    let w = world();
    w.tag("4.17.5", "1");
    let before = git(&w.channel, &["for-each-ref"]);
    let o = w.run(SATURDAY, &["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("would bump 4.17.4-5 -> 4.17.5-1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(git(&w.channel, &["for-each-ref"]), before);
    assert!(!w.state_dir().join("state.json").exists());
}

/// The bot lists tags through the same git client as `update`: `--timeout` stops a stalled
/// server (it used to wait a fixed 300 s), and the tags land in the shared `--cache`.
#[test]
fn tag_discovery_honours_timeout_and_shares_the_update_cache() {
    let w = world();
    w.tag("4.17.5", "1");
    let url = w.git.url("qubes-vmm-xen");
    let path = url.strip_prefix(&w._http.base_url()).unwrap().to_string();
    w._http.inject(
        &format!("{path}/info/refs"),
        Fault::Stall(Duration::from_secs(6)),
        1,
    );
    let mut c = w.bot(SATURDAY, &["--gate", "true"]);
    c.args(["--timeout", "2"]);
    let o = c.output().unwrap();
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("no progress for 2 s") || stderr(&o).contains("no progress for 2 s"),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    // The server answers again: the rerun bumps, and its tags are in the update's cache.
    let o = w.run(SATURDAY, &["--gate", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(w.branch_log(SATURDAY), ["xen: 4.17.4-5 -> 4.17.5-1"]);
    assert!(!w.state_dir().join("tags").exists());
    let mirrors: Vec<_> = std::fs::read_dir(w.tmp.path().join("cache/git"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".git"))
        .collect();
    assert_eq!(
        mirrors.len(),
        2,
        "one bare repo per URL (Qubes, Xen): {mirrors:?}"
    );
}

/// A `--base` that does not resolve is one usage error before anything is fetched or
/// committed: it must not read as "no .guix-authorizations here" and skip the key check.
#[test]
fn an_unknown_base_is_an_error_not_a_skipped_key_check() {
    let w = world();
    w.tag("4.17.5", "1");
    let before = git(&w.channel, &["for-each-ref"]);
    let o = w.run(SATURDAY, &["--base", "no-such-branch"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    assert!(
        errors[0].contains("--base no-such-branch: no such commit"),
        "{e}"
    );
    assert_eq!(git(&w.channel, &["for-each-ref"]), before);
    assert!(!w.state_dir().join("state.json").exists());
}
