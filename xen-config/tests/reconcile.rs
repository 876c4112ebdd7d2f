//! Reconciliation of Qubes' real config against the real Debian 4.17 tree and against a copy
//! edited the way upstream drifts between releases (a default changed, a symbol renamed).
mod common;
use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use xen_config::reconcile::{reconcile, Class};

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read Kconfig");
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write Kconfig");
}

#[test]
fn qubes_config_on_its_own_tree_has_no_problems() {
    let t = tree();
    let q = qubes_config();
    let r = reconcile(
        &t.kconfig,
        &t.xen,
        Some((&t.kconfig, &t.xen)),
        &q,
        &BTreeSet::new(),
    );
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let class = |n: &str| {
        r.symbols
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .class
    };
    assert_eq!(class("SHADOW_PAGING"), Class::Deliberate);
    assert_eq!(class("EXPERT"), Class::Deliberate);
    assert_eq!(class("HAS_PDX"), Class::Derived);
    assert_eq!(class("SCHED_DEFAULT"), Class::Derived);
    assert_eq!(class("GCC_VERSION"), Class::HostDependent);
    assert_eq!(class("NR_CPUS"), Class::Default);
    assert_eq!(class("SCHED_CREDIT2_DEFAULT"), Class::Default);
    // Debian's 4.17.5 has a symbol Qubes' 4.17.3 config predates.
    assert_eq!(class("CC_HAS_RETURN_THUNK"), Class::HostDependent);
    // The minimal config is exactly what make savedefconfig writes.
    let make_min = String::from_utf8(make_in(&t.xen, "savedefconfig", Some(&q))).expect("utf-8");
    assert_eq!(r.minimal_config, make_min);
}

#[test]
fn drifted_tree_reports_stale_pins_and_removed_symbols() {
    let t = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(dir.path());
    let xen = dir.path().join("xen");
    edit(
        &xen.join("arch/Kconfig"),
        "default \"256\" if X86",
        "default \"512\" if X86",
    );
    edit(
        &xen.join("common/Kconfig"),
        "config XENOPROF\n",
        "config XENOPROF_NEXT\n",
    );
    let drifted = parse_replay(&xen, &t.probes);
    let q = qubes_config();
    let r = reconcile(
        &drifted,
        &xen,
        Some((&t.kconfig, &t.xen)),
        &q,
        &BTreeSet::new(),
    );
    let find = |n: &str| {
        r.symbols
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    let nr = find("NR_CPUS");
    assert_eq!(nr.class, Class::StalePin, "{nr:?}");
    assert_eq!(nr.base_default.as_deref(), Some("256"));
    assert_eq!(nr.upstream_default.as_deref(), Some("512"));
    assert_eq!(nr.effective.as_deref(), Some("256"));
    assert_eq!(find("XENOPROF").class, Class::RemovedUpstream);
    assert_eq!(find("XENOPROF_NEXT").class, Class::NewUpstreamDefault);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    let accept: BTreeSet<String> = ["NR_CPUS".to_string(), "XENOPROF".to_string()].into();
    let r2 = reconcile(&drifted, &xen, Some((&t.kconfig, &t.xen)), &q, &accept);
    assert!(r2.problems.is_empty(), "{:?}", r2.problems);

    // The binary: non-zero exit on the problems, zero when accepted, JSON on request.
    let probes = dir.path().join("probes.json");
    std::fs::write(&probes, serde_json::to_string(&t.probes).expect("json")).expect("write probes");
    let qpath = dir.path().join("qubes.config");
    std::fs::write(&qpath, &q).expect("write config");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xen-config"))
            .args(["reconcile", "--xen-dir"])
            .arg(&xen)
            .arg("--base-xen-dir")
            .arg(&t.xen)
            .arg("--qubes-config")
            .arg(&qpath)
            .arg("--probes")
            .arg(&probes)
            .args(extra)
            .output()
            .expect("run xen-config")
    };
    let o = run(&[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("CONFIG_NR_CPUS: stale pin") && err.contains("--accept XENOPROF"),
        "{err}"
    );
    let o = run(&[
        "--accept",
        "NR_CPUS",
        "--accept",
        "CONFIG_XENOPROF",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json output");
    let nr = v["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .find(|s| s["name"] == "NR_CPUS")
        .expect("NR_CPUS");
    assert_eq!(nr["class"], "stale-pin");
    assert_eq!(nr["accepted"], true);
}
