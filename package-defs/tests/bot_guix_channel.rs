//! The bot on a Guix channel: each bump commit carries the regenerated channel modules and
//! is signed by an authorized key; real Guix 1.5.0's `guix git authenticate` accepts the
//! history from the introduction through the bot's commits and refuses a commit signed by
//! an unauthorized key; `--push` publishes to a loopback bare remote, never forced, and a
//! rejected push is retried by the next run.

mod common;
#[path = "common/guix.rs"]
mod guix;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use test_servers::git::RepoBuilder;
use test_servers::GpgKey;

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";
/// Tags are made now; the bot runs on a Saturday well after, so they have landed.
const SATURDAY: &str = "2099-01-03";

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
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

/// A channel repository (definitions pinned to test keys, `.guix-channel`, generated
/// modules, introduced by the bot key with `scripts/guix-channel-init.sh`), a bare remote
/// it is published to, and loopback forges with a new Qubes tag to bump to.
struct World {
    lb: Loopback,
    _qubes: RepoBuilder,
    _xen: RepoBuilder,
    bot_key: GpgKey,
    channel: PathBuf,
    remote: PathBuf,
    intro: String,
}

fn world() -> World {
    let lb = Loopback::start();
    let spec = |version, rel, extra: &str| QubesSpec {
        version,
        rel,
        series: chain(&[
            (201, "efi", &format!("efi{extra}")),
            (500, "xsa-1", "xsa1"),
            (1000, "qubes", "q"),
        ]),
        dead: vec![],
        config: std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config")).unwrap(),
        configure: "--disable-stubdom",
    };
    let qubes = lb.git.create_repo("qubes-vmm-xen").unwrap();
    write_qubes_tree(qubes.work_tree(), &spec("4.17.5", "1", ""));
    qubes.commit_all("v4.17.5-1").unwrap();
    qubes.tag("v4.17.5-1", Some(&lb.qubes_key)).unwrap();
    let xen = lb.git.create_repo("xen").unwrap();
    write_upstream_tree(xen.work_tree(), "4.17.5", "0x00040e00");
    xen.commit_all("Xen 4.17.5").unwrap();
    xen.tag("RELEASE-4.17.5", Some(&lb.xen_key)).unwrap();

    let bot_key = GpgKey::generate("Bump Bot <bot@example.org>", "ed25519").unwrap();
    let channel = lb.tmp.path().join("channel");
    copy_dir(&lb.dir, &channel.join("definitions"));
    std::fs::copy(
        workspace().join(".guix-channel"),
        channel.join(".guix-channel"),
    )
    .unwrap();
    let o = run(&["export", "guix"], &channel.join("definitions"));
    assert!(o.status.success(), "{}", stderr(&o));
    git(&channel, &["init", "-q", "-b", "main"]);
    git(&channel, &["add", "definitions"]);
    git(
        &channel,
        &[
            "commit",
            "-q",
            "-m",
            "definitions, before the channel was introduced",
        ],
    );
    let o = Command::new(workspace().join("scripts/guix-channel-init.sh"))
        .args(["-C", channel.to_str().unwrap(), bot_key.fingerprint()])
        .env("GNUPGHOME", bot_key.home())
        .env("GIT_AUTHOR_NAME", "Maintainer")
        .env("GIT_AUTHOR_EMAIL", "m@example.org")
        .env("GIT_COMMITTER_NAME", "Maintainer")
        .env("GIT_COMMITTER_EMAIL", "m@example.org")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let intro = git(&channel, &["rev-parse", "HEAD"]);
    let entry = String::from_utf8_lossy(&o.stdout);
    assert!(entry.contains(&intro), "{entry}");
    // Guix pulls `master` unless the entry names the channel's branch.
    assert!(entry.contains("(branch \"main\")"), "{entry}");
    let remote = lb.tmp.path().join("remote.git");
    git(
        lb.tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    git(
        &channel,
        &["push", "-q", remote.to_str().unwrap(), "main", "keyring"],
    );
    World {
        lb,
        _qubes: qubes,
        _xen: xen,
        bot_key,
        channel,
        remote,
        intro,
    }
}

impl World {
    fn bot(&self, key: &GpgKey, extra: &[&str]) -> Output {
        let exe = env!("CARGO_BIN_EXE_package-defs");
        bin()
            .env("GNUPGHOME", key.home())
            .env("GIT_AUTHOR_NAME", "Bump Bot")
            .env("GIT_AUTHOR_EMAIL", "bot@example.org")
            .env("GIT_COMMITTER_NAME", "Bump Bot")
            .env("GIT_COMMITTER_EMAIL", "bot@example.org")
            .env(
                "PACKAGE_DEFS_URL_REWRITE",
                format!(
                    "{QUBES_URL}={};{XEN_URL}={}",
                    self.lb.git.url("qubes-vmm-xen"),
                    self.lb.git.url("xen")
                ),
            )
            .arg("--definitions")
            .arg(self.channel.join("definitions"))
            .arg("--cache")
            .arg(self.lb.tmp.path().join("cache"))
            .args([
                "bot",
                "--skip-tarball",
                "--today",
                SATURDAY,
                "--sign",
                key.fingerprint(),
            ])
            // The gate: the committed channel must be what the bumped definitions generate.
            .args([
                "--gate",
                &format!("{exe} --definitions definitions export guix --check"),
            ])
            .args(extra)
            .output()
            .unwrap()
    }

    fn remote_ref(&self, name: &str) -> Option<String> {
        let o = Command::new("git")
            .args(["rev-parse", "--verify", "--quiet", name])
            .current_dir(&self.remote)
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    fn pending_pushes(&self) -> String {
        std::fs::read_to_string(self.channel.join(".git/package-defs-bot/push.json"))
            .unwrap_or_default()
    }
}

#[test]
fn the_bots_signed_bump_carries_the_channel_and_real_guix_authenticates_it() {
    let w = world();
    let branch = format!("bot/bumps-{SATURDAY}");
    let o = w.bot(&w.bot_key, &["--push", w.remote.to_str().unwrap()]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let bump = git(&w.channel, &["rev-parse", &branch]);
    assert_eq!(
        git(&w.channel, &["log", "-1", "--format=%s", &bump]),
        "xen: 4.17.4-5 -> 4.17.5-1"
    );
    let files = git(&w.channel, &["show", "--name-only", "--format=", &bump]);
    for f in [
        "definitions/xen.toml",
        "definitions/qubes-vmm-xen-data.toml",
        "guix/qubes-xen-kit/sources.scm",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the bump commit:\n{files}"
        );
    }
    let sources = git(
        &w.channel,
        &["show", &format!("{bump}:guix/qubes-xen-kit/sources.scm")],
    );
    assert!(
        sources.contains("(define-public xen-version \"4.17.5\")"),
        "{sources}"
    );
    // Published, and nothing left pending.
    assert_eq!(
        w.remote_ref(&format!("refs/heads/{branch}")).as_deref(),
        Some(bump.as_str())
    );
    assert!(
        !w.pending_pushes().contains("bot/"),
        "{}",
        w.pending_pushes()
    );

    // A commit on top signed by a key the channel does not authorize (its public key is
    // even in the keyring, so only authorization can refuse it).
    let stranger = GpgKey::generate("Stranger <stranger@example.org>", "ed25519").unwrap();
    let rogue = w.lb.tmp.path().join("rogue");
    git(
        w.lb.tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &branch,
            w.remote.to_str().unwrap(),
            rogue.to_str().unwrap(),
        ],
    );
    std::fs::write(rogue.join("definitions/NOTE"), "not from the bot\n").unwrap();
    git(&rogue, &["add", "."]);
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=s",
            "-c",
            "user.email=s@example.org",
            "commit",
            "-q",
            "-m",
            "unauthorized",
            &format!("--gpg-sign={}", stranger.fingerprint()),
        ])
        .current_dir(&rogue)
        .env("GNUPGHOME", stranger.home())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let unauthorized = git(&rogue, &["rev-parse", "HEAD"]);
    git(&rogue, &["fetch", "-q", "origin", "keyring:keyring"]);
    git(&rogue, &["checkout", "-q", "keyring"]);
    std::fs::write(
        rogue.join(format!("{}.key", stranger.fingerprint())),
        stranger.armored_public_key().unwrap(),
    )
    .unwrap();
    git(&rogue, &["add", "."]);
    git(
        &rogue,
        &["commit", "-q", "--no-gpg-sign", "-m", "stranger's key"],
    );
    git(&rogue, &["checkout", "-q", &branch]);

    let Some(g) = guix::Guix::get() else { return };
    let repo = g.copy_in(&rogue, "channel");
    let fpr = w.bot_key.fingerprint();
    let o = g.run(&format!(
        r#"set -u
echo "== good"
guix git authenticate {intro} {fpr} -r {repo} --end={bump} --stats 2>&1; echo "exit $?"
echo "== rogue"
guix git authenticate {intro} {fpr} -r {repo} --end={unauthorized} 2>&1; echo "exit $?"
"#,
        intro = w.intro,
    ));
    let out = stdout(&o);
    let good = out.split("== rogue").next().unwrap();
    assert!(
        good.contains("exit 0"),
        "guix git authenticate refused the bot's history:\n{out}\n{}",
        stderr(&o)
    );
    let rogue_out = out.split("== rogue").nth(1).unwrap();
    assert!(
        !rogue_out.contains("exit 0"),
        "an unauthorized commit was accepted:\n{rogue_out}"
    );
    assert!(
        rogue_out.contains(&unauthorized) && rogue_out.contains("not signed by an authorized key"),
        "{rogue_out}"
    );

    // CI's check (scripts/guix-authenticate.sh) finds the introduction and the bot's
    // branches by itself: it accepts the published channel and names the rogue branch.
    let ci = |repo: &Path| {
        Command::new(workspace().join("scripts/guix-authenticate.sh"))
            .args(["-C", repo.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = ci(&w.channel);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("authenticated {branch} {bump}"))
            && stdout(&o).contains("authenticated main "),
        "{}",
        stdout(&o)
    );
    let o = ci(&rogue);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("authenticated origin/{branch} {bump}")),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(&format!(
            "error: guix git authenticate refused {branch} ({unauthorized})"
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_bot_refuses_to_sign_with_a_key_the_channel_does_not_authorize() {
    let w = world();
    let stranger = GpgKey::generate("Stranger <stranger@example.org>", "ed25519").unwrap();
    let before = git(
        &w.channel,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    );
    let o = w.bot(&stranger, &["--push", w.remote.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.starts_with("error: ")
            && e.contains(stranger.fingerprint())
            && e.contains(".guix-authorizations"),
        "{e}"
    );
    assert_eq!(
        git(
            &w.channel,
            &["for-each-ref", "--format=%(refname) %(objectname)"]
        ),
        before
    );
    assert_eq!(
        w.remote_ref(&format!("refs/heads/bot/bumps-{SATURDAY}")),
        None
    );
}

#[test]
fn a_rejected_push_is_never_forced_and_the_next_run_retries_it() {
    let w = world();
    let remote = w.remote.to_str().unwrap();
    // Someone else moved the channel branch: a fast-forward to the bump is impossible.
    let other = w.lb.tmp.path().join("other");
    git(
        w.lb.tmp.path(),
        &["clone", "-q", remote, other.to_str().unwrap()],
    );
    std::fs::write(other.join("README"), "elsewhere\n").unwrap();
    git(&other, &["add", "."]);
    git(&other, &["commit", "-q", "--no-gpg-sign", "-m", "moved on"]);
    git(&other, &["push", "-q", "origin", "main"]);
    let moved = w.remote_ref("refs/heads/main").unwrap();

    let o = w.bot(&w.bot_key, &["--push", remote, "--push-branch", "main"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.contains("\nerror: git push")
            && e.contains("[rejected]")
            && e.contains("next run")
            && !e.contains("hint:"),
        "{e}"
    );
    assert_eq!(
        w.remote_ref("refs/heads/main").as_deref(),
        Some(moved.as_str()),
        "the remote was overwritten"
    );
    assert!(
        w.pending_pushes()
            .contains(&format!("bot/bumps-{SATURDAY}")),
        "{}",
        w.pending_pushes()
    );

    // The remote is put back; the next run (nothing new to bump) publishes the pending bump.
    git(&w.remote, &["update-ref", "refs/heads/main", &w.intro]);
    let o = w.bot(&w.bot_key, &["--push", remote, "--push-branch", "main"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let bump = git(&w.channel, &["rev-parse", &format!("bot/bumps-{SATURDAY}")]);
    assert_eq!(w.remote_ref("refs/heads/main"), Some(bump));
    assert!(
        !w.pending_pushes().contains("bot/"),
        "{}",
        w.pending_pushes()
    );
}

#[test]
fn nothing_is_pushed_when_the_gate_fails() {
    let w = world();
    let o = w.bot(
        &w.bot_key,
        &["--gate", "false", "--push", w.remote.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at step gate"), "{}", stderr(&o));
    assert_eq!(
        w.remote_ref(&format!("refs/heads/bot/bumps-{SATURDAY}")),
        None
    );
    assert!(
        !w.pending_pushes().contains("bot/"),
        "{}",
        w.pending_pushes()
    );
}
