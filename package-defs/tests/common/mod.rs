//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod qubes_tags;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn shipped() -> PathBuf {
    workspace().join("definitions")
}

/// `../shared/fixtures` beside the workspace, or under `QXK_SHARED_DIR` (as the real
/// repositories' server finds them), so worktrees elsewhere run the same tests.
pub fn fixtures() -> PathBuf {
    test_servers::real::shared_dir().join("fixtures")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A copy of the shipped definitions in a temp folder `<tmp>/definitions`.
pub fn shipped_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("definitions");
    copy_dir(&shipped(), &dir);
    (tmp, dir)
}

/// `xen` and `qubes-vmm-xen-data` at the real v4.17.4-5 (94 patches), as the real `update`
/// writes them (real_update.rs checks that): a fixed point the update tests bump from, whatever
/// version the shipped definitions have moved on to.
pub fn baseline_files() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/baseline-4.17.4-5")
}

/// The shipped definitions with `xen` at the v4.17.4-5 baseline, in `<tmp>/definitions`.
pub fn baseline_copy() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = shipped_copy();
    copy_dir(&baseline_files(), &dir);
    (tmp, dir)
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_package-defs"));
    c.env_remove("PACKAGE_DEFS_DIR")
        .env_remove("PACKAGE_DEFS_URL_REWRITE");
    c
}

/// The binary on `dir` with download cache `cache`, every URL rewritten by `rewrites`
/// (`PACKAGE_DEFS_URL_REWRITE` syntax: `FROM=TO;FROM2=TO2`).
pub fn run_rewritten(dir: &Path, cache: &Path, rewrites: &str, args: &[&str]) -> Output {
    bin()
        .env("PACKAGE_DEFS_URL_REWRITE", rewrites)
        .arg("--definitions")
        .arg(dir)
        .arg("--cache")
        .arg(cache)
        .args(args)
        .output()
        .unwrap()
}

pub fn run(args: &[&str], dir: &Path) -> Output {
    bin()
        .arg("--definitions")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file of a folder with its bytes, for byte-identical checks.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Fingerprints of the real keys the shipped definitions pin.
pub const REAL_QUBES_FPR: &str = "0064428F455451B3EBE78A7F063938BA42CFA724";
pub const REAL_XEN_FPR: &str = "23E3222C145F4475FA8060A783FE14C957E82BD9";

/// Copies the shipped definitions (`xen` at the v4.17.4-5 baseline) to `dir`, re-pinned to keys
/// the test made: each real
/// key file is replaced by the test key's and every fingerprint in the TOML files with it.
pub fn definitions_for_test_keys(
    dir: &Path,
    qubes: &test_servers::GpgKey,
    xen: &test_servers::GpgKey,
) {
    copy_dir(&shipped(), dir);
    copy_dir(&baseline_files(), dir);
    // Qubes' components pin the real key and the real repositories, which these test worlds
    // do not serve (tests/components.rs checks them against the real ones).
    let _ = std::fs::remove_dir_all(dir.join("components"));
    for (real, k) in [(REAL_QUBES_FPR, qubes), (REAL_XEN_FPR, xen)] {
        std::fs::remove_file(dir.join(format!("keys/{real}.asc"))).unwrap();
        std::fs::write(
            dir.join(format!("keys/{}.asc", k.fingerprint())),
            k.armored_public_key().unwrap(),
        )
        .unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let t = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, t.replace(real, k.fingerprint())).unwrap();
            }
        }
    }
}

/// Loopback servers (HTTP, with `git http-backend` mounted under `/git/`), the two signing
/// keys a test makes, and the baseline definitions pinned to them in `<tmp>/definitions`.
pub struct Loopback {
    pub tmp: tempfile::TempDir,
    pub http: test_servers::HttpServer,
    pub git: test_servers::git::GitServer,
    pub qubes_key: test_servers::GpgKey,
    pub xen_key: test_servers::GpgKey,
    pub dir: PathBuf,
}

impl Loopback {
    pub fn start() -> Self {
        use test_servers::GpgKey;
        let tmp = tempfile::tempdir().unwrap();
        let http = test_servers::HttpServer::start().unwrap();
        let git = test_servers::git::GitServer::mount(&http).unwrap();
        let qubes_key =
            GpgKey::generate("Test Qubes Signer <qubes@example.org>", "ed25519").unwrap();
        let xen_key = GpgKey::generate("Test Xen Signer <xen@example.org>", "ed25519").unwrap();
        let dir = tmp.path().join("definitions");
        definitions_for_test_keys(&dir, &qubes_key, &xen_key);
        Loopback {
            tmp,
            http,
            git,
            qubes_key,
            xen_key,
            dir,
        }
    }
}

/// Puts a [`snapshot`] back in place of `dir`.
pub fn restore(dir: &Path, files: &[(PathBuf, Vec<u8>)]) {
    std::fs::remove_dir_all(dir).unwrap();
    for (p, bytes) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    }
}

/// Runs `run`, an update to what is already pinned: it must succeed, print one line saying so
/// (with `expect` in it) and nothing on stderr, and leave every file under `dir` byte-identical.
pub fn noop_unchanged(dir: &Path, what: &str, expect: &str, run: impl FnOnce() -> Output) {
    let before = snapshot(dir);
    let o = run();
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{what} must be a no-op: {err}");
    assert_eq!(out.lines().count(), 1, "{what}: one line:\n{out}");
    assert!(
        out.contains(expect) && out.contains("already pinned; nothing to do"),
        "{what}: expected '{expect}' in:\n{out}"
    );
    assert!(!err.contains("error:"), "{what}: {err}");
    assert_eq!(snapshot(dir), before, "definitions changed after {what}");
}

/// Runs `run`, which must fail with exactly one `error:` line and every `expect` in its
/// stderr, and leave every file under `dir` byte-identical; returns the stderr.
pub fn fails_unchanged(
    dir: &Path,
    what: &str,
    expect: &[&str],
    run: impl FnOnce() -> Output,
) -> String {
    let before = snapshot(dir);
    let o = run();
    let err = stderr(&o);
    assert!(!o.status.success(), "expected failure for {what}: {err}");
    for e in expect {
        assert!(err.contains(e), "for {what} expected '{e}' in:\n{err}");
    }
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error for {what}:\n{err}"
    );
    assert_eq!(snapshot(dir), before, "definitions changed after {what}");
    err
}

/// Waits until `child` (stderr piped) reports the txn test hook paused at `point`,
/// then kills it with SIGKILL.
pub fn kill_at_hook(child: &mut std::process::Child, point: &str) {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("child's stderr is piped");
    let marker = format!("test-hook: paused at {point}");
    let mut lines = std::io::BufReader::new(stderr).lines();
    loop {
        let l = lines.next().expect("child ended before the hook").unwrap();
        if l.contains(&marker) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// The `keys:` line under `heading` in docs/json.md, as a sorted list.
pub fn documented_keys(heading: &str, variant: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/json.md")).unwrap();
    let section = doc
        .split("\n### ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/json.md has no section {heading:?}"));
    let prefix = format!("keys{variant}: ");
    let line = section
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line under {heading:?}"));
    let mut keys: Vec<String> = line.split(", ").map(str::to_string).collect();
    keys.sort();
    keys
}

pub fn keys_of(v: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

/// Changes one byte in the middle of `file` (a corrupted cache entry).
#[allow(dead_code)]
pub fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(file, bytes).unwrap();
}
