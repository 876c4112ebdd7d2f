//! `package-defs build` fails when `olddefconfig` turns off an option Qubes' config sets,
//! unless the definition allows it: on the real data, Qubes' config for qubes-xen-next
//! (generated for Xen 4.17.3) sets CONFIG_HAS_PDX, which Xen 4.19 no longer has.

mod common;
#[path = "common/xen_config.rs"]
mod xen_config;
use common::*;
use xen_config::xen_config;

#[test]
fn an_option_olddefconfig_drops_fails_the_build_unless_the_definition_allows_it() {
    let real = test_servers::RealRepos::serve().unwrap();
    let (tmp, dir) = shipped_copy();
    let def = dir.join("qubes-xen-next.toml");
    let text = std::fs::read_to_string(&def).unwrap();
    let allowance = "allow_dropped_options = [\"CONFIG_HAS_PDX\"]\n";
    assert!(text.contains(allowance), "the shipped definition changed");
    std::fs::write(&def, text.replace(allowance, "")).unwrap();
    let out = tmp.path().join("out/next-hv");
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .env("QXK_XEN_CONFIG", xen_config())
        .arg("--definitions")
        .arg(&dir)
        .arg("--cache")
        .arg(tmp.path().join("downloads"))
        .args([
            "build",
            "qubes-xen-next",
            "--mode",
            "hypervisor",
            "--no-cache",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    let first = e
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        first.contains(
            "olddefconfig turned off options Qubes' config sets: CONFIG_HAS_PDX (Qubes: y)"
        ) && first.contains(&def.display().to_string())
            && first.contains("allow_dropped_options"),
        "{e}"
    );
    // Stopped before `make`: no hypervisor log, nothing at the output.
    let logs = tmp.path().join("out/next-hv.failed-logs");
    assert!(logs.join("olddefconfig.log").is_file(), "{e}");
    assert!(!logs.join("xen.log").exists());
    assert!(!out.exists());
}
