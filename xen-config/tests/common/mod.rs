//! Shared fixture: one copy of Debian's real Xen 4.17 tree per test process, with Xen's own
//! kconfig `conf` built in it, and our parse of the same tree (host probes recorded once).
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use xen_config::probe::{HostShell, Recorder, Replay};
use xen_config::{xen_env, Input, Kconfig, XenTarget};

pub struct RealTree {
    _dir: tempfile::TempDir,
    /// Root of the copy (holds Config.mk, config/, xen/).
    pub root: PathBuf,
    pub xen: PathBuf,
    /// Our parse of the tree.
    pub kconfig: Kconfig,
    /// Host probe answers, for replaying parses of edited copies.
    pub probes: BTreeMap<String, String>,
    /// The environment Xen's make gives conf.
    pub env: BTreeMap<String, String>,
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate lives in the workspace")
        .to_path_buf()
}

/// Path of the pristine Debian tree (fetched once by the workspace script).
pub fn debian_tree() -> PathBuf {
    let out = Command::new("bash")
        .arg(workspace().join("scripts/debian-xen-source.sh"))
        .output()
        .expect("run scripts/debian-xen-source.sh");
    assert!(
        out.status.success(),
        "scripts/debian-xen-source.sh failed (run scripts/setup-debian.sh first): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}

/// Copies the parts of the Debian tree `make -C xen *config` needs.
pub fn copy_tree(into: &Path) {
    let src = debian_tree();
    let st = Command::new("cp")
        .arg("-a")
        .args(["Config.mk", "config", "xen"].iter().map(|p| src.join(p)))
        .arg(into)
        .status()
        .expect("cp");
    assert!(st.success(), "copying the Debian Xen tree failed");
}

static TREE: OnceLock<Mutex<RealTree>> = OnceLock::new();

pub fn tree() -> MutexGuard<'static, RealTree> {
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        copy_tree(&root);
        let xen = root.join("xen");
        // Builds conf (and fixdep) once; later make runs reuse them.
        make_in(&xen, "olddefconfig", None);
        let (kconfig, probes) = parse_host(&xen);
        let env = xen_env::xen_env(
            &xen,
            &XenTarget::default(),
            &mut Replay {
                answers: probes.clone(),
            },
        )
        .expect("env");
        Mutex::new(RealTree {
            _dir: dir,
            root,
            xen,
            kconfig,
            probes,
            env,
        })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

/// Parses a tree with the real host answering probes; returns the answers too.
pub fn parse_host(xen: &Path) -> (Kconfig, BTreeMap<String, String>) {
    let target = XenTarget::default();
    let mut rec = Recorder {
        inner: HostShell {
            cwd: xen.to_path_buf(),
            env: vec![],
        },
        answers: BTreeMap::new(),
    };
    let env = xen_env::xen_env(xen, &target, &mut rec).expect("xen env");
    rec.inner.env = env.into_iter().collect();
    let k =
        xen_config::load_xen_tree(xen, &target, &mut rec).expect("parse the real Xen Kconfig tree");
    (k, rec.answers)
}

/// Parses a tree answering probes from a recording.
pub fn parse_replay(xen: &Path, probes: &BTreeMap<String, String>) -> Kconfig {
    let mut r = Replay {
        answers: probes.clone(),
    };
    xen_config::load_xen_tree(xen, &XenTarget::default(), &mut r)
        .expect("parse tree with recorded probes")
}

/// Runs `make -C xen <target>` with `input` as `.config` (None: no `.config` at all) and
/// returns the file conf wrote (`.config`, or `defconfig` for savedefconfig).
pub fn make_in(xen: &Path, target: &str, input: Option<&[u8]>) -> Vec<u8> {
    let cfg = xen.join(".config");
    let _ = std::fs::remove_file(&cfg);
    let _ = std::fs::remove_file(xen.join("defconfig"));
    if let Some(data) = input {
        std::fs::write(&cfg, data).expect("write .config");
    }
    let out = Command::new("make")
        .arg("-C")
        .arg(xen)
        .arg(target)
        .env_remove("MAKEFLAGS")
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make -C xen {target} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result = if target == "savedefconfig" {
        xen.join("defconfig")
    } else {
        cfg
    };
    std::fs::read(&result).expect("conf output")
}

/// Our output for the same operation.
pub fn ours(k: &Kconfig, xen: &Path, target: &str, input: Option<&[u8]>) -> String {
    let mut k = k.clone();
    let input = match input {
        Some(d) => Input::Config(d),
        None => Input::Missing,
    };
    match target {
        "olddefconfig" => k.olddefconfig(input, xen).0,
        "savedefconfig" => k.savedefconfig(input, xen).0,
        t => panic!("unknown target {t}"),
    }
}

/// Asserts our olddefconfig and savedefconfig equal make's, byte for byte.
pub fn assert_same_as_make(t: &RealTree, label: &str, input: Option<&[u8]>) {
    for target in ["olddefconfig", "savedefconfig"] {
        let theirs = String::from_utf8(make_in(&t.xen, target, input)).expect("utf-8 output");
        let mine = ours(&t.kconfig, &t.xen, target, input);
        if theirs != mine {
            let d = first_difference(&theirs, &mine);
            panic!("{label}: {target} differs from make's at line {d}\n--- make ---\n{theirs}\n--- ours ---\n{mine}");
        }
    }
}

pub fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or(a.lines().count().min(b.lines().count()))
        + 1
}

pub fn qubes_config() -> Vec<u8> {
    let p = workspace().join("../shared/fixtures/qubes-vmm-xen/v4.17.4-5/config");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
