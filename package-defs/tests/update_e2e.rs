//! `package-defs update` end to end against real loopback servers: `git http-backend` with
//! repositories and gpg-signed tags the test makes, URL rewriting, the cache, every fault, and
//! `kill -9` of the real binary during the write.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use test_servers::git::{GitServer, RepoBuilder};
use test_servers::{Fault, GpgKey, HttpServer};

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";
const DOWNLOADS: &str = "https://downloads.xenproject.org/";
const TARBALL: &str = "/release/xen/4.17.5/xen-4.17.5.tar.gz";
const TARBALL_SIG: &str = "/release/xen/4.17.5/xen-4.17.5.tar.gz.sig";

struct World {
    _tmp: tempfile::TempDir,
    http: HttpServer,
    git: GitServer,
    qubes: RepoBuilder,
    xen: RepoBuilder,
    qubes_key: GpgKey,
    xen_key: GpgKey,
    tarball: PathBuf,
    dir: PathBuf,
    cache: PathBuf,
    /// Exported trees' oracles: the work trees (no .git inside).
    upstream_work: PathBuf,
    qubes_work_at_tag: PathBuf,
}

fn series(extra: &str) -> Vec<(u32, String, String)> {
    let efi = format!("efi{extra}");
    chain(&[
        (201, "efi", efi.as_str()),
        (500, "xsa-1", "xsa1"),
        (1000, "qubes", "q"),
    ])
}

fn qubes_spec<'a>(
    version: &'a str,
    rel: &'a str,
    series: Vec<(u32, String, String)>,
) -> QubesSpec<'a> {
    QubesSpec {
        version,
        rel,
        series,
        dead: vec![
            ("0400-dead.patch".into(), "dead".into()),
            ("0500-duplicate.patch".into(), "dup".into()),
        ],
        config: std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config")).unwrap(),
        configure: "--disable-stubdom",
    }
}

fn copy_plain(from: &Path, to: &Path) {
    // Snapshot of a work tree, keeping symlinks (for the nix-hash oracle).
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (s, d) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s).unwrap(), &d).unwrap();
        } else if ft.is_dir() {
            copy_plain(&s, &d);
        } else {
            std::fs::copy(&s, &d).unwrap();
        }
    }
}

fn world() -> World {
    // Definitions pinned to the test keys instead of the real ones.
    let Loopback {
        tmp,
        http,
        git,
        qubes_key,
        xen_key,
        dir,
    } = Loopback::start();

    let qubes = git.create_repo("qubes-vmm-xen").unwrap();
    // The pinned tag exists too (with another commit than the real pin, so the report's
    // config diff is skipped with a warning), as in the real repository.
    write_qubes_tree(
        qubes.work_tree(),
        &qubes_spec("4.17.4", "5", series("-old")),
    );
    qubes.commit_all("v4.17.4-5").unwrap();
    qubes.tag("v4.17.4-5", Some(&qubes_key)).unwrap();
    for e in std::fs::read_dir(qubes.work_tree()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    write_qubes_tree(qubes.work_tree(), &qubes_spec("4.17.5", "1", series("")));
    qubes.commit_all("v4.17.5-1").unwrap();
    qubes.tag("v4.17.5-1", Some(&qubes_key)).unwrap();
    let qubes_work_at_tag = tmp.path().join("oracle-qubes");
    copy_plain(qubes.work_tree(), &qubes_work_at_tag);

    let xen = git.create_repo("xen").unwrap();
    write_upstream_tree(xen.work_tree(), "4.17.5", "0x00040e00");
    xen.commit_all("Xen 4.17.5").unwrap();
    xen.tag("RELEASE-4.17.5", Some(&xen_key)).unwrap();
    let upstream_work = tmp.path().join("oracle-xen");
    copy_plain(xen.work_tree(), &upstream_work);

    // The release tarball and its detached signature, as downloads.xenproject.org serves them.
    let tarball = tmp.path().join("xen-4.17.5.tar.gz");
    test_servers::archive::make_tarball(&upstream_work, "xen-4.17.5", "gz", &tarball).unwrap();
    http.put(TARBALL, std::fs::read(&tarball).unwrap());
    http.put(TARBALL_SIG, xen_key.sign_detached(&tarball, false).unwrap());

    let cache = tmp.path().join("cache");
    World {
        _tmp: tmp,
        http,
        git,
        qubes,
        xen,
        qubes_key,
        xen_key,
        tarball,
        dir,
        cache,
        upstream_work,
        qubes_work_at_tag,
    }
}

impl World {
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = bin();
        // One rewrite through the environment, one through the flag: both must apply.
        c.env(
            "PACKAGE_DEFS_URL_REWRITE",
            format!(
                "{QUBES_URL}={};{DOWNLOADS}={}",
                self.git.url("qubes-vmm-xen"),
                self.http.url("/")
            ),
        )
        .arg("--definitions")
        .arg(&self.dir)
        .arg("--cache")
        .arg(&self.cache)
        .args([
            "--url-rewrite",
            &format!("{XEN_URL}={}", self.git.url("xen")),
        ])
        .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a failing update and checks it left every definition byte-identical.
    fn fails(&self, args: &[&str], expect: &str) -> String {
        fails_unchanged(&self.dir, &format!("{args:?}"), &[expect], || {
            self.run(args)
        })
    }

    fn tag_tree(&self, tag: &str, spec: &QubesSpec<'_>, key: Option<&GpgKey>) {
        for e in std::fs::read_dir(self.qubes.work_tree()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        write_qubes_tree(self.qubes.work_tree(), spec);
        self.qubes.commit_all(tag).unwrap();
        match key {
            Some(k) => self.qubes.tag(tag, Some(k)).unwrap(),
            None => self.qubes.tag(tag, None).unwrap(),
        }
    }
}

#[test]
fn update_pins_a_signed_tag_and_a_rerun_is_served_from_the_cache() {
    let w = world();
    let original = snapshot(&w.dir);
    // A dry run fetches, verifies and reports, and writes nothing.
    let o = w.run(&["update", "xen", "4.17.5-1", "--dry-run", "--diff"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("+version = \"4.17.5\"") && out.contains("security patches DROPPED"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("dry run: nothing written"),
        "{out}"
    );
    assert_eq!(snapshot(&w.dir), original);
    let o = w.run(&["update", "xen", "4.17.5-1", "--json", "--diff"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["report"];
    assert_eq!(v["written"], true);
    assert_eq!(r["version"]["old"], "4.17.4-5");
    assert_eq!(r["version"]["new"], "4.17.5-1");
    assert_eq!(r["upstream_tag"]["new"], "RELEASE-4.17.5");
    assert_eq!(r["patches"]["added"].as_array().unwrap().len(), 3);
    assert_eq!(
        r["patches"]["unlisted"],
        serde_json::json!(["0400-dead.patch", "0500-duplicate.patch"])
    );
    assert!(v["diff"].as_str().unwrap().contains("+tag = \"v4.17.5-1\""));

    let defs = package_defs::load_dir(&w.dir).unwrap();
    let x = defs.get("xen").unwrap().as_xen().unwrap();
    assert_eq!(x.upstream.nar_sha256, Some(nix_hash(&w.upstream_work)));
    let d = defs.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();
    assert_eq!(d.source.nar_sha256, nix_hash(&w.qubes_work_at_tag));
    let tarball_sha = content_hash::hash_file(&w.tarball).unwrap().0.to_hex();
    assert_eq!(
        x.upstream.tarball.sha256.as_deref(),
        Some(tarball_sha.as_str())
    );
    let files: Vec<&str> = d.patches.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(
        files,
        ["0201-efi.patch", "0500-xsa-1.patch", "1000-qubes.patch"]
    );
    let updated = snapshot(&w.dir);

    // Back to the original pins; the identical update must not touch the network.
    restore(&w.dir, &original);
    let before = w.http.request_count();
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        w.http.request_count(),
        before,
        "cached rerun did network I/O"
    );
    assert_eq!(snapshot(&w.dir), updated);
    assert_eq!(stdout(&o), "");

    // Asking again for the pinned version is a no-op that says so.
    noop_unchanged(
        &w.dir,
        "update to the pinned version",
        "xen: 4.17.5-1",
        || w.run(&["update", "xen", "4.17.5-1"]),
    );
    let o = w.run(&["update", "xen", "4.17.5-1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["written"], false);
    assert_eq!(
        v["already_pinned"],
        "xen: 4.17.5-1 is already pinned; nothing to do (--repin fetches it again)"
    );
}

#[test]
fn every_fault_gives_one_error_and_changes_nothing_then_a_rerun_succeeds() {
    let w = world();
    let refs = "/git/qubes-vmm-xen.git/info/refs";

    w.fails(&["update", "xen", "4.17.9-1"], "v4.17.9-1");
    w.fails(
        &["update", "xen", "4.17.3-1"],
        "older than the pinned 4.17.4-5; pass --allow-downgrade",
    );
    w.fails(&["update", "xen", "4.19.5-1"], "pass --allow-stream");

    for fault in [
        Fault::NotFound,
        Fault::ServerError,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
        Fault::ResetMidBody { after: 10 },
        Fault::Truncate { send: 20 },
    ] {
        w.http.inject(refs, fault.clone(), 100);
        w.fails(&["update", "xen", "4.17.5-1"], "qubes-vmm-xen");
        w.http.clear_faults();
    }
    w.http
        .inject(refs, Fault::Stall(Duration::from_secs(8)), 100);
    w.fails(
        &["--timeout", "2", "update", "xen", "4.17.5-1"],
        "no progress for 2 s",
    );
    w.http.clear_faults();

    // The release tarball: every HTTP fault (after bounded retries), a bad and a missing signature.
    for fault in [
        Fault::NotFound,
        Fault::ServerError,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
        Fault::ResetMidBody { after: 100 },
    ] {
        w.http.inject(TARBALL, fault.clone(), 100);
        w.fails(&["update", "xen", "4.17.5-1"], "xen-4.17.5.tar.gz");
        w.http.clear_faults();
    }
    // A body cut short under the full Content-Length: every attempt reaches the server (nothing
    // verified is cached for this URL yet) and the length check names the shortfall.
    let before = w.http.request_count();
    w.http.inject(TARBALL, Fault::Truncate { send: 100 }, 100);
    let tarball_len = std::fs::metadata(&w.tarball).unwrap().len();
    w.fails(
        &["update", "xen", "4.17.5-1"],
        &format!("xen-4.17.5.tar.gz: truncated body: got 100 of {tarball_len} bytes"),
    );
    assert!(
        w.http.request_count() >= before + 4,
        "retries reach the server"
    );
    w.http.clear_faults();
    // Why a truncation can look "not caught": one cut-short attempt is retried and the whole
    // file verified (a success, as it should be) ...
    let before = w.http.request_count_for(TARBALL);
    w.http.inject(TARBALL, Fault::Truncate { send: 100 }, 1);
    let o = w.run(&["update", "xen", "4.17.5-1", "--dry-run", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        w.http.request_count_for(TARBALL),
        before + 2,
        "the truncated attempt was retried"
    );
    // ... and once verified, the release file is reused by URL (release files are immutable)
    // and re-verified against its signature, so a faulty server is not even asked.
    w.http.inject(TARBALL, Fault::Truncate { send: 100 }, 100);
    let o = w.run(&["update", "xen", "4.17.5-1", "--dry-run", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(w.http.request_count_for(TARBALL), before + 2);
    w.http.clear_faults();
    std::fs::remove_dir_all(&w.cache).unwrap();
    w.http
        .inject(TARBALL, Fault::Stall(Duration::from_secs(8)), 100);
    w.fails(
        &["--timeout", "1", "update", "xen", "4.17.5-1"],
        "xen-4.17.5.tar.gz",
    );
    w.http.clear_faults();
    let good_sig = w.xen_key.sign_detached(&w.tarball, false).unwrap();
    let stranger = GpgKey::generate("Stranger <s@example.org>", "ed25519").unwrap();
    // A verified signature stays cached with its URL: start from an empty cache.
    std::fs::remove_dir_all(&w.cache).unwrap();
    w.http.put(
        TARBALL_SIG,
        stranger.sign_detached(&w.tarball, false).unwrap(),
    );
    w.fails(&["update", "xen", "4.17.5-1"], "xen-4.17.5.tar.gz");
    // The bad signature was cached with its URL; once the server is fixed a rerun succeeds.
    w.http.put(TARBALL_SIG, good_sig.clone());
    let o = w.run(&["update", "xen", "4.17.5-1", "--dry-run", "--quiet"]);
    assert!(
        o.status.success(),
        "rerun after a fixed .sig: {}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&w.cache).unwrap();
    w.http.remove(TARBALL_SIG);
    w.fails(&["update", "xen", "4.17.5-1"], "xen-4.17.5.tar.gz.sig");
    w.http.put(TARBALL_SIG, good_sig);

    // Signed by a key that is not pinned.
    w.tag_tree(
        "v4.17.5-2",
        &qubes_spec("4.17.5", "2", series("2")),
        Some(&stranger),
    );
    w.fails(
        &["update", "xen", "4.17.5-2"],
        &stranger.fingerprint()[24..],
    );
    // Unsigned annotated tag.
    w.tag_tree("v4.17.5-3", &qubes_spec("4.17.5", "3", series("3")), None);
    w.fails(&["update", "xen", "4.17.5-3"], "v4.17.5-3");
    // A malformed spec: a duplicated patch number.
    let mut bad = series("4");
    bad[1].0 = 201;
    w.tag_tree(
        "v4.17.5-4",
        &qubes_spec("4.17.5", "4", bad),
        Some(&w.qubes_key),
    );
    w.fails(
        &["update", "xen", "4.17.5-4"],
        "xen.spec.in:9: patch number 201 is already used on line 8",
    );
    // Tag whose files disagree with its name.
    w.tag_tree(
        "v4.17.5-5",
        &qubes_spec("4.17.5", "6", series("5")),
        Some(&w.qubes_key),
    );
    w.fails(
        &["update", "xen", "4.17.5-5"],
        "files say 4.17.5-6, but 4.17.5-5 was asked for",
    );

    // After all that, the good update goes through.
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        package_defs::load_dir(&w.dir)
            .unwrap()
            .get("xen")
            .unwrap()
            .version
            .to_string(),
        "4.17.5-1"
    );
}

#[test]
fn kill_9_of_the_binary_during_the_write_leaves_old_or_new_and_a_rerun_succeeds() {
    let w = world();
    let old = snapshot(&w.dir);
    // Reference result from a dry run's diff is not enough: do a real update in a copy.
    for point in ["before-swap", "after-swap"] {
        let mut child = w
            .cmd(&["update", "xen", "4.17.5-1", "--quiet"])
            .env(package_defs::defs::txn::TEST_HOOK_ENV, point)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        kill_at_hook(&mut child, point);
        let now = snapshot(&w.dir);
        let defs = package_defs::load_dir(&w.dir).unwrap();
        let v = defs.get("xen").unwrap().version.to_string();
        if point == "before-swap" {
            assert_eq!(now, old, "byte-identical after a kill before the swap");
            assert_eq!(v, "4.17.4-5");
        } else {
            assert_eq!(v, "4.17.5-1", "fully updated after a kill after the swap");
            assert_eq!(
                defs.get("qubes-vmm-xen-data").unwrap().version.to_string(),
                "4.17.5-1"
            );
            // Restore for the rerun check below.
            restore(&w.dir, &old);
        }
        let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
        assert!(
            o.status.success(),
            "rerun after kill at {point}: {}",
            stderr(&o)
        );
        restore(&w.dir, &old);
    }
}

#[test]
fn verify_and_prepare_after_an_update() {
    let w = world();
    // The next stream pins real commits that the loopback servers do not have.
    for f in ["qubes-xen-next.toml", "qubes-xen-next-data.toml"] {
        std::fs::remove_file(w.dir.join(f)).unwrap();
    }
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = w.run(&["verify", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    for p in v.as_array().unwrap() {
        assert_eq!(p["problems"], serde_json::json!([]), "{p}");
    }

    // A wrong tarball hash is caught.
    let xf = w.dir.join("xen.toml");
    let xtext = std::fs::read_to_string(&xf).unwrap();
    let tsha = content_hash::hash_file(&w.tarball).unwrap().0.to_hex();
    std::fs::write(&xf, xtext.replace(&tsha, &"1".repeat(64))).unwrap();
    let o = w.run(&["verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("FAIL  xen ") && stdout(&o).contains(&tsha),
        "{}",
        stdout(&o)
    );
    std::fs::write(&xf, xtext).unwrap();

    // A wrong pin is caught, named, and verify fails.
    let f = w.dir.join("qubes-vmm-xen-data.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let d = package_defs::load_dir(&w.dir).unwrap();
    let sha = d
        .get("qubes-vmm-xen-data")
        .unwrap()
        .as_data()
        .unwrap()
        .patches[0]
        .sha256
        .clone();
    std::fs::write(&f, text.replace(&sha, &"0".repeat(64))).unwrap();
    let o = w.run(&["verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains(&format!(
            "FAIL  qubes-vmm-xen-data 0201-efi.patch: sha256 {sha}, pinned {}",
            "0".repeat(64)
        )),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("1 package(s) do not match their pins"),
        "{}",
        stderr(&o)
    );
    // prepare refuses data that does not match the pins.
    let vendor = w.dir.parent().unwrap().join("vendor");
    let o = w.run(&["prepare", "xen", "--vendor", vendor.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("0201-efi.patch: sha256 is"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&f, text).unwrap();

    // With good pins the series applies; this test's upstream tree is not a real Xen tree, so
    // the header generation step refuses it with one error and leaves no tree behind
    // (tests/prepare_xen_sys.rs prepares a real one end to end).
    let o = w.run(&["prepare", "xen", "--vendor", vendor.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("vendor/xen-4.17.5-1: generating the headers xen-sys needs failed")
            && err.contains("is not a Xen source tree"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(!vendor.join("xen-4.17.5-1").exists());
}

/// Upstream signed a tag of the right name over a tree of another release (a mis-tag, or a
/// key holder's mistake): the tree's own version is checked too, and the update is refused.
#[test]
fn a_signed_tag_over_another_release_tree_is_refused() {
    let w = world();
    std::fs::write(
        w.xen.work_tree().join("xen/Makefile"),
        "export XEN_VERSION       = 4\nexport XEN_SUBVERSION    = 17\nexport XEN_EXTRAVERSION ?= .4$(XEN_VENDORVERSION)\n",
    )
    .unwrap();
    w.xen.commit_all("still 4.17.4").unwrap();
    let st = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(w.xen.git_dir())
        .args(["tag", "-d", "RELEASE-4.17.5"])
        .output()
        .unwrap();
    assert!(st.status.success());
    w.xen.tag("RELEASE-4.17.5", Some(&w.xen_key)).unwrap();
    w.fails(
        &["update", "xen", "4.17.5-1", "--skip-tarball"],
        "upstream Xen tag RELEASE-4.17.5 from https://xenbits.xen.org/git-http/xen.git: its xen/Makefile says Xen 4.17.4, but 4.17.5 was asked for",
    );
}

/// `--git-max-time` caps every git command in all (here so low that the first one stops).
#[test]
fn git_max_time_caps_git_commands() {
    let w = world();
    w.fails(
        &["--git-max-time", "0", "update", "xen", "4.17.5-1"],
        "total cap of 0 s",
    );
}
