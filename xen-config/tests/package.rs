//! `xen-config reconcile --definitions DIR --package NAME --vendor DIR`: the workspace's real
//! definitions, and a vendor folder laid out as `package-defs prepare` makes it, from Debian's
//! real Xen tree with Qubes' real config installed as `xen/.config`.
mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

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
    Command::new(env!("CARGO_BIN_EXE_xen-config"))
        .arg("reconcile")
        .arg("--definitions")
        .arg(&s.definitions)
        .args(["--package", package])
        .arg("--vendor")
        .arg(vendor)
        .arg("--probe-cache")
        .arg(&s.cache)
        .args(extra)
        .output()
        .expect("run xen-config")
}

#[test]
fn reconciles_the_prepared_tree_with_the_definitions_flags() {
    let s = setup();
    let o = run(&s, "xen", &s.vendor, &["--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("json output: {e}\nstderr: {err}"));
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
    let o2 = Command::new(env!("CARGO_BIN_EXE_xen-config"))
        .arg("reconcile")
        .arg("--xen-dir")
        .arg(s.tree.join("xen"))
        .arg("--qubes-config")
        .arg(s.tree.join("xen/.config"))
        .arg("--probe-cache")
        .arg(&s.cache)
        .arg("--json")
        // Without a definition, the tables' stale flags are on trial.
        .args([
            "--accept=--disable-ocaml",
            "--accept=--disable-blktap1",
            "--accept=--disable-blktap2",
        ])
        .output()
        .expect("run xen-config");
    assert!(
        o2.status.success(),
        "{}",
        String::from_utf8_lossy(&o2.stderr)
    );
    let v2: serde_json::Value = serde_json::from_slice(&o2.stdout).expect("json");
    assert_eq!(v["symbols"], v2["symbols"]);
    assert_eq!(v["minimal_config"], v2["minimal_config"]);
    assert!(v2["tools"]["package_flags"].is_null());
    let minimal = String::from_utf8(make_in(
        &s.tree.join("xen"),
        "savedefconfig",
        Some(&qubes_config()),
    ))
    .expect("utf-8");
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
    // A data package is not reconciled on its own.
    let o = run(&s, "qubes-vmm-xen-data", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("reconcile the xen package that uses it (xen)"),
        "{err}"
    );
    let o = run(&s, "nope", &s.vendor, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no package 'nope'"),
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
