//! Helpers shared by the integration tests.
#![allow(dead_code)]

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

pub fn fixtures() -> PathBuf {
    workspace().join("../shared/fixtures")
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

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_package-defs"));
    c.env_remove("PACKAGE_DEFS_DIR")
        .env_remove("PACKAGE_DEFS_URL_REWRITE");
    c
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

/// Copies the shipped definitions to `dir`, re-pinned to keys the test made: each real
/// key file is replaced by the test key's and every fingerprint in the TOML files with it.
pub fn definitions_for_test_keys(
    dir: &Path,
    qubes: &test_servers::GpgKey,
    xen: &test_servers::GpgKey,
) {
    copy_dir(&shipped(), dir);
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
