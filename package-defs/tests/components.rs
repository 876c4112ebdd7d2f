//! Qubes' guest components pinned as Xen is, against the real repositories (qubes-core-vchan-xen,
//! -qubesdb, -qrexec, qubes-linux-utils, qubes-core-agent-linux) served on loopback under their
//! real URLs: the shipped pins equal `nix-hash` of a plain git checkout, `verify` passes,
//! `update` writes the shipped file byte for byte, and every bad tag is refused with the
//! definitions left byte-identical.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use package_defs::component::{self, Allow, ComponentVersion};
use package_defs::sources::fetch::GitSources;

fn sources(real: &test_servers::RealRepos, cache: &Path) -> GitSources {
    let mut rw = source_fetch::UrlRewrites::default();
    for (from, to) in real.rewrites() {
        rw.push(from.as_str(), to.as_str());
    }
    GitSources::new(cache, rw, std::time::Duration::from_secs(60), true).unwrap()
}

fn load(dir: &Path) -> Vec<component::Component> {
    let defs = package_defs::load_dir(dir).unwrap();
    component::load(dir, &defs).unwrap()
}

/// `git` in `dir`, panicking with its stderr on failure.
fn git(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Forger",
            "-c",
            "user.email=f@example.invalid",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// NAR sha256 of a plain checkout of `commit` (read-tree + checkout-index, as Guix's
/// git-fetch leaves it), computed by `nix-hash`: an oracle nobody here wrote.
fn nix_hash_of_checkout(bare: &Path, commit: &str, dest: &Path) -> String {
    std::fs::create_dir_all(dest).unwrap();
    let index = dest.with_extension("index");
    let env = [("GIT_INDEX_FILE", index.as_path()), ("GIT_WORK_TREE", dest)];
    git(bare, &["read-tree", commit], &env);
    let prefix = format!("{}/", dest.display());
    git(
        bare,
        &["checkout-index", "-a", "-f", "--prefix", &prefix],
        &env,
    );
    let o = Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(dest)
        .output()
        .expect("nix-hash (Debian nix-bin) is installed");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// Every file of `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn shipped_components_are_the_real_tags_and_verify() {
    let real = test_servers::RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = sources(&real, cache.path());
    let comps = load(&shipped());
    let names: Vec<(&str, String, &str)> = comps
        .iter()
        .map(|c| (c.name.as_str(), c.version.to_string(), c.xen.as_str()))
        .collect();
    // R4.2's newest release4.2 tags beside `xen`, R4.3's release4.3 tags beside
    // `qubes-xen-next`.
    let want: Vec<(&str, String, &str)> = [
        ("qubes-core-agent-linux", "4.2.45", "xen"),
        ("qubes-core-agent-linux-next", "4.3.40", "qubes-xen-next"),
        ("qubes-core-qrexec", "4.2.25", "xen"),
        ("qubes-core-qrexec-next", "4.3.12", "qubes-xen-next"),
        ("qubes-core-qubesdb", "4.2.10", "xen"),
        ("qubes-core-qubesdb-next", "4.3.2", "qubes-xen-next"),
        ("qubes-core-vchan-xen", "4.2.7", "xen"),
        ("qubes-core-vchan-xen-next", "4.2.8", "qubes-xen-next"),
        ("qubes-linux-utils", "4.2.20", "xen"),
        ("qubes-linux-utils-next", "4.3.15", "qubes-xen-next"),
    ]
    .iter()
    .map(|(n, v, x)| (*n, v.to_string(), *x))
    .collect();
    assert_eq!(names, want);

    let work = tempfile::tempdir().unwrap();
    for c in &comps {
        // The pins, against git and nix-hash on the served repository itself.
        let bare = real.git_dir(c.component.repo_name);
        let commit = git(
            &bare,
            &["rev-parse", &format!("{}^{{commit}}", c.source.tag)],
            &[],
        );
        assert_eq!(commit, c.source.commit, "{}", c.name);
        let nar = nix_hash_of_checkout(&bare, &commit, &work.path().join(format!("co-{}", c.name)));
        assert_eq!(nar, c.source.nar_sha256, "{}", c.name);
        // The newest tag of the branch (as `git describe` finds it).
        let newest = git(
            &bare,
            &[
                "describe",
                "--tags",
                "--abbrev=0",
                "--match",
                "v*",
                &c.source.branch,
            ],
            &[],
        );
        assert_eq!(newest, c.source.tag, "{}", c.name);
        // And the project's own verify: signature, component, version, branch, commit, NAR.
        let check = component::verify(&shipped(), c, &src, work.path());
        assert!(
            check.problems.is_empty(),
            "{}: {:?}",
            c.name,
            check.problems
        );
        assert_eq!(check.checked.len(), 3, "{:?}", check.checked);
    }
}

#[test]
fn update_pins_a_real_tag_and_refuses_every_bad_one_writing_nothing() {
    let real = test_servers::RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let src = sources(&real, cache.path());
    let (_tmp, dir) = shipped_copy();
    let work = tempfile::tempdir().unwrap();
    let shipped_qrexec =
        std::fs::read(shipped().join("components/qubes-core-qrexec.toml")).unwrap();
    let comp = |dir: &Path, name: &str| load(dir).into_iter().find(|c| c.name == name).unwrap();
    let v = |s: &str| ComponentVersion::parse(s).unwrap();
    let run = |dir: &Path, name: &str, to: &str, allow: Allow| {
        let c = comp(dir, name);
        component::update(dir, &c, v(to), allow, false, &src, work.path())
    };

    // Back to v4.2.24 (allowed explicitly), then forward to v4.2.25: the shipped bytes again.
    let e = run(&dir, "qubes-core-qrexec", "4.2.24", Allow::default()).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "qubes-core-qrexec: 4.2.24 is older than the pinned 4.2.25; pass --allow-downgrade to go back"
    );
    let down = Allow {
        downgrade: true,
        ..Allow::default()
    };
    let u = run(&dir, "qubes-core-qrexec", "4.2.24", down).unwrap();
    assert!(u.written);
    let file = dir.join("components/qubes-core-qrexec.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("version = \"4.2.24\"") && text.contains("tag = \"v4.2.24\""));
    let u = run(&dir, "qubes-core-qrexec", "4.2.25", Allow::default()).unwrap();
    assert_eq!(
        (u.from.to_string(), u.to.to_string()),
        ("4.2.24".into(), "4.2.25".into())
    );
    assert_eq!(std::fs::read(&file).unwrap(), shipped_qrexec);
    let e = run(&dir, "qubes-core-qrexec", "4.2.25", Allow::default()).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "qubes-core-qrexec: 4.2.25 is already pinned; nothing to do (--repin fetches it again)"
    );

    let before = snapshot(&dir);
    let qrexec = real.git_dir("qubes-core-qrexec");
    let qubesdb = real.git_dir("qubes-core-qubesdb");
    let refused = |name: &str, to: &str, allow: Allow| -> String {
        let e = run(&dir, name, to, allow).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            snapshot(&dir) == before,
            "{name} {to}: definitions changed after: {msg}"
        );
        eprintln!("refused {name} {to}: {msg}");
        msg
    };

    // A tag of another stream: vchan-xen v4.2.8 is on release4.3 only.
    let msg = refused("qubes-core-vchan-xen", "4.2.8", Allow::default());
    assert!(
        msg.starts_with("https://github.com/QubesOS/qubes-core-vchan-xen tag v4.2.8: commit a1337c282ffefcfc13a570683c57bc04813038db is not on branch release4.2, which qubes-core-vchan-xen follows"),
        "{msg}"
    );

    // An unsigned annotated tag v4.2.26 on release4.2.
    git(
        &qrexec,
        &["tag", "-a", "-m", "v4.2.26", "v4.2.26", "release4.2"],
        &[],
    );
    let msg = refused("qubes-core-qrexec", "4.2.26", Allow::default());
    assert!(msg.starts_with("qubes-core-qrexec: "), "{msg}");
    assert!(
        msg.contains("tag v4.2.26 of ")
            && msg.ends_with("missing OpenPGP signature; refusing unverified data"),
        "{msg}"
    );

    // The same, signed by a key nobody pinned.
    let forger = test_servers::GpgKey::generate("Forger <f@example.invalid>", "ed25519").unwrap();
    git(&qrexec, &["tag", "-d", "v4.2.26"], &[]);
    git(
        &qrexec,
        &[
            "tag",
            "-s",
            "-u",
            forger.fingerprint(),
            "-m",
            "v4.2.26",
            "v4.2.26",
            "release4.2",
        ],
        &[("GNUPGHOME", forger.home())],
    );
    let msg = refused("qubes-core-qrexec", "4.2.26", Allow::default());
    assert!(
        msg.contains(&format!(
            "signed by unknown key [\"{}\"",
            forger.fingerprint()
        )) && msg.contains("0064428F455451B3EBE78A7F063938BA42CFA724"),
        "{msg}"
    );

    // Qubes' real signed v4.2.25 served as v4.2.26: the tag object names v4.2.25.
    let obj = git(&qrexec, &["rev-parse", "refs/tags/v4.2.25"], &[]);
    git(&qrexec, &["update-ref", "refs/tags/v4.2.26", &obj], &[]);
    let msg = refused("qubes-core-qrexec", "4.2.26", Allow::default());
    assert!(
        msg.contains("the signed tag object is named `v4.2.25`, not `v4.2.26`"),
        "{msg}"
    );

    // QubesDB's real signed v4.2.10 served as qrexec's v4.2.10: right name, right key, right
    // version, another component.
    let db_obj = git(&qubesdb, &["rev-parse", "refs/tags/v4.2.10"], &[]);
    git(
        &qrexec,
        &[
            "fetch",
            "--quiet",
            &qubesdb.display().to_string(),
            "+refs/tags/v4.2.10:refs/tags/v4.2.10",
        ],
        &[],
    );
    assert_eq!(
        git(&qrexec, &["rev-parse", "refs/tags/v4.2.10"], &[]),
        db_obj
    );
    let msg = refused("qubes-core-qrexec", "4.2.10", down);
    assert!(
        msg.ends_with("tag v4.2.10: its debian/control says `Source: qubesdb`, but qubes-core-qrexec's is `Source: qubes-core-qrexec`: the server serves another component under this name; refusing it"),
        "{msg}"
    );
}

#[test]
fn cli_lists_verifies_and_updates_components_and_names_the_refusal() {
    let real = test_servers::RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_tmp, dir) = shipped_copy();
    let run = |args: &[&str]| run_rewritten(&dir, cache.path(), &real.rewrite_env(), args);

    let o = run(&["list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let comps: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "qubes-component")
        .collect();
    assert_eq!(comps.len(), 10);

    let o = run(&["verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let ok = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("ok    qubes-core-") || l.starts_with("ok    qubes-linux-"))
        .count();
    assert_eq!(ok, 10, "{}", stdout(&o));

    // One `error:` line naming the repository, tag, commit and branch; nothing written.
    let before = snapshot(&dir);
    let o = run(&["update", "qubes-core-vchan-xen", "4.2.8"]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        "error: https://github.com/QubesOS/qubes-core-vchan-xen tag v4.2.8: commit a1337c282ffefcfc13a570683c57bc04813038db is not on branch release4.2, which qubes-core-vchan-xen follows (`source.branch`); pass --allow-stream to move streams"
    );
    assert!(snapshot(&dir) == before);
    let o = run(&["update", "qubes-core-qubesdb", "4.2.10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "qubes-core-qubesdb: 4.2.10 is already pinned; nothing to do (--repin fetches it again)"
    );

    // A pin that no longer matches is reported by verify, naming the file.
    let f = dir.join("components/qubes-core-qubesdb-next.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let wrong = text.replace(
        "1kal2lf4frjk083qd0ql5m8znbzn77pndxhclkl0pbc7v5ycrfyd",
        "0000000000000000000000000000000000000000000000000000",
    );
    assert_ne!(text, wrong);
    std::fs::write(&f, wrong).unwrap();
    let o = run(&["verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains(&format!(
            "FAIL  qubes-core-qubesdb-next {}: NAR sha256 of v4.3.2 is 1kal2lf4frjk083qd0ql5m8znbzn77pndxhclkl0pbc7v5ycrfyd, pinned 0000000000000000000000000000000000000000000000000000",
            f.display()
        )),
        "{}",
        stdout(&o)
    );
}
