//! `package-defs reconcile PACKAGE --vendor DIR` (xen-config's reconcile on a definition): the
//! workspace's real definitions, and a vendor folder laid out as `package-defs prepare` makes
//! it, from Debian's real Xen tree with Qubes' real config installed as `xen/.config`.
mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Path of the pristine Debian Xen tree (fetched once by the workspace script).
fn debian_tree() -> PathBuf {
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

fn qubes_config() -> Vec<u8> {
    let p = fixtures().join("qubes-vmm-xen/v4.17.4-5/config");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Xen's own `make -C xen savedefconfig` of `config`: the oracle for the minimal config.
fn make_savedefconfig(xen: &Path, config: &[u8]) -> String {
    std::fs::write(xen.join(".config"), config).expect("write .config");
    let out = Command::new("make")
        .arg("-C")
        .arg(xen)
        .arg("savedefconfig")
        .env_remove("MAKEFLAGS")
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make savedefconfig: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(xen.join("defconfig")).expect("defconfig")
}

struct Setup {
    _dir: tempfile::TempDir,
    definitions: PathBuf,
    vendor: PathBuf,
    tree: PathBuf,
    cache: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let definitions = dir.path().join("definitions");
    let st = Command::new("cp")
        .arg("-a")
        .arg(workspace().join("definitions"))
        .arg(&definitions)
        .status()
        .expect("cp definitions");
    assert!(st.success());
    // `xen` at the fixed v4.17.4-5 baseline (its config is the one installed below), whatever
    // version the shipped definitions have moved on to.
    let baseline = workspace().join("package-defs/tests/data/baseline-4.17.4-5");
    for f in ["xen.toml", "qubes-vmm-xen-data.toml"] {
        std::fs::copy(baseline.join(f), definitions.join(f)).expect("baseline definitions");
    }
    let vendor = dir.path().join("vendor");
    std::fs::create_dir(&vendor).expect("mkdir vendor");
    // `package-defs prepare` names the tree <package>-<version>-<rel>.
    let tree = vendor.join("xen-4.17.4-5");
    let st = Command::new("cp")
        .arg("-a")
        .arg(debian_tree())
        .arg(&tree)
        .status()
        .expect("cp tree");
    assert!(st.success(), "copying the Debian Xen tree failed");
    std::fs::write(tree.join("xen/.config"), qubes_config()).expect("install config");
    let cache = dir.path().join("probes-cache.json");
    Setup {
        _dir: dir,
        definitions,
        vendor,
        tree,
        cache,
    }
}

fn run(s: &Setup, package: &str, vendor: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("--definitions")
        .arg(&s.definitions)
        .args(["reconcile", package])
        .arg("--vendor")
        .arg(vendor)
        .arg("--probe-cache")
        .arg(&s.cache)
        .args(extra)
        .output()
        .expect("run package-defs")
}

#[test]
fn reconciles_the_prepared_tree_with_the_definitions_flags() {
    let s = setup();
    let o = run(&s, "xen", &s.vendor, &["--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("json output: {e}\nstderr: {err}"));
    assert_eq!(keys_of(&v), documented_keys("`reconcile --json`", ""));
    // The definition's flags are reported and checked against the tree's configure.ac.
    let pf = &v["tools"]["package_flags"];
    assert_eq!(pf["who"], "definition xen");
    let text = std::fs::read_to_string(s.definitions.join("xen.toml")).expect("xen.toml");
    for f in pf["flags"].as_array().expect("flags") {
        assert!(text.contains(&format!("\"{}\"", f.as_str().expect("str"))));
    }
    assert_eq!(pf["flags"].as_array().map(Vec::len), Some(8));
    let warnings: Vec<(String, String)> = v["tools"]["flag_warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["who"] == "definition xen")
        .map(|w| {
            (
                w["flag"].as_str().unwrap_or_default().to_string(),
                w["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // --disable-stubdom etc. are real 4.17 flags: none is unknown, so the run passes (the
    // other distributions' stale flags are reported, but it is the definition on trial).
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(o.status.success(), "{err}");
    // Same symbols and minimal config as reconciling the tree and config directly.
    let probes = xen_config::cli::ProbeArgs {
        arch: xen_config::cli::Arch::X86_64,
        cc: "gcc".into(),
        ld: "ld".into(),
        probes: None,
        record_probes: None,
        probe_cache: Some(s.cache.clone()),
        no_probe_cache: false,
    };
    let config = std::fs::read(s.tree.join("xen/.config")).expect("config");
    let direct = xen_config::cli::reconcile(xen_config::cli::Request {
        xen_dir: &s.tree.join("xen"),
        config: &config,
        base_xen_dir: None,
        source_root: None,
        base_source_root: None,
        package_flags: None,
        // Without a definition, the tables' stale flags are on trial.
        accept: &[
            "--disable-ocaml".into(),
            "--disable-blktap1".into(),
            "--disable-blktap2".into(),
        ],
        probes: &probes,
    })
    .expect("reconcile the tree directly");
    assert!(direct.problems.is_empty(), "{:?}", direct.problems);
    let v2 = serde_json::to_value(&direct).expect("json");
    assert_eq!(v["symbols"], v2["symbols"]);
    assert_eq!(v["minimal_config"], v2["minimal_config"]);
    assert!(v2["tools"]["package_flags"].is_null());
    let minimal = make_savedefconfig(&s.tree.join("xen"), &qubes_config());
    assert_eq!(v["minimal_config"], minimal.as_str());
}

#[test]
fn errors_name_the_fix() {
    let s = setup();
    // No prepared tree: say which command makes it.
    let empty = s.vendor.join("..").join("empty-vendor");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = run(&s, "xen", &empty, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no prepared tree for xen 4.17.4-5")
            && err.contains("prepare xen --vendor")
            && err.contains("xen-4.17.4-5"),
        "{err}"
    );
    // A data package is not reconciled on its own; both are usage errors, as in every command.
    let o = run(&s, "qubes-vmm-xen-data", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(2) && err.contains("name the xen package that uses it (xen)"),
        "{err}"
    );
    let o = run(&s, "nope", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(2) && err.contains("unknown package 'nope'"),
        "{err}"
    );
    // A config that is not the pinned one (olddefconfig rewrote it) is refused.
    let cfg = s.tree.join("xen/.config");
    let mut data = qubes_config();
    data.extend_from_slice(b"CONFIG_NR_CPUS=64\n");
    std::fs::write(&cfg, data).expect("edit config");
    let o = run(&s, "xen", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("ed824d2386558c677cf37725e78b37c9186e00f64f4e6effe1c501d1390e2718")
            && err.contains("qubes-vmm-xen-data.toml")
            && err.contains("prepare xen"),
        "{err}"
    );
    // A flag the tree's configure does not define fails the run unless accepted.
    std::fs::write(s.tree.join("xen/.config"), qubes_config()).expect("restore config");
    let def = s.definitions.join("xen.toml");
    let text = std::fs::read_to_string(&def).expect("xen.toml");
    std::fs::write(
        &def,
        text.replacen(
            "  \"--disable-stubdom\",\n",
            "  \"--disable-stubdom\",\n  \"--disable-blktap2\",\n",
            1,
        ),
    )
    .expect("edit flags");
    let o = run(&s, "xen", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("definition xen passes --disable-blktap2") && !err.contains("Debian passes"),
        "{err}"
    );
    let o = run(&s, "xen", &s.vendor, &["--accept=--disable-blktap2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An invalid definitions folder reports the file.
    std::fs::write(s.definitions.join("xen.toml"), "schema = 1\nname = 3\n").expect("write");
    let o = run(&s, "xen", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("xen.toml:"), "{err}");
}

/// Tests fill the Debian tree's cache concurrently: one fetch, and no caller ever sees the
/// tree replaced under it. A stand-in `apt-get` (first on PATH) counts its runs and is slow.
#[test]
fn the_debian_tree_cache_is_filled_once_under_concurrency() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let count = tmp.path().join("fetches");
    std::fs::write(
        bin.join("apt-get"),
        format!(
            "#!/bin/sh\necho x >> {}\nsleep 1\nmkdir xen-4.17.5+72-g01140da4e8\necho tree > xen-4.17.5+72-g01140da4e8/README\n",
            count.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("apt-get"))
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cache = tmp.path().join("cache");
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Command::new("bash")
                .arg(workspace().join("scripts/debian-xen-source.sh"))
                .env("PATH", &path)
                .env("QXK_CACHE_DIR", &cache)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut trees = Vec::new();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let tree = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
        // Read right away, while the other runs may still be going: never replaced.
        assert_eq!(
            std::fs::read_to_string(tree.join("README")).unwrap(),
            "tree\n"
        );
        trees.push(tree);
    }
    trees.dedup();
    assert_eq!(trees.len(), 1, "{trees:?}");
    assert_eq!(
        std::fs::read_to_string(&count).unwrap(),
        "x\n",
        "fetched once"
    );
}
