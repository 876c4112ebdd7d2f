//! The Xen packages' real Guix build phases, run by real Guix 1.5.0's build-side code in the
//! Guix chroot against Debian's tools (`scripts/guix-phases.sh`: Guix itself cannot build
//! offline): the real checkouts land at the store paths the origins pin, the patched source's
//! builder applies Qubes' whole series with `--fuzz=0`, and every phase of each package runs
//! until `make` compiles in the `build` phase (then the builder is stopped, to keep the cost
//! near a minute per package). The config check phase fails on real data when the definition
//! stops allowing the option olddefconfig drops.

mod common;
#[path = "common/guix.rs"]
mod guix;
use common::*;
use guix::Guix;

use package_defs::{load_dir, Body};
use std::path::Path;
use std::process::Command;

/// A checkout (no `.git`, as Guix's git-fetch leaves it) of `commit` from a fixture tar.
fn checkout(tar: &Path, commit: &str, to: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success(), "unpack {}", tar.display());
    let bare = std::fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let git = |args: &[&str]| {
        let o = Command::new("git").args(args).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    };
    git(&[
        "clone",
        "-q",
        "--no-checkout",
        bare.to_str().unwrap(),
        to.to_str().unwrap(),
    ]);
    git(&[
        "-C",
        to.to_str().unwrap(),
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "-q",
        commit,
    ]);
    std::fs::remove_dir_all(to.join(".git")).unwrap();
}

/// Exports the channel of the definitions in `defs` into the scratch folder `rel`.
fn channel(g: &Guix, defs: &Path, rel: &str) -> String {
    let o = run(
        &["export", "guix", "--channel", g.host(rel).to_str().unwrap()],
        defs,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    g.inside(rel)
}

#[test]
fn every_phase_of_both_xen_packages_runs_until_make_compiles() {
    let Some(g) = Guix::get() else { return };
    let defs = load_dir(&shipped()).unwrap();
    let ch = channel(&g, &shipped(), "channel");
    for f in ["guix-phases.sh", "guix-phases.scm"] {
        std::fs::copy(workspace().join("scripts").join(f), g.host(f)).unwrap();
    }
    let git = fixtures().join("git");
    let mut script = String::from("set -euo pipefail\n");
    let mut packages = Vec::new();
    for (def, pkg) in [("xen", "xen-qubes"), ("qubes-xen-next", "xen-qubes-next")] {
        let x = defs.get(def).unwrap().as_xen().unwrap();
        let d = defs.get(&x.data).unwrap().as_data().unwrap();
        checkout(
            &git.join("xen.git.tar"),
            x.upstream.commit.as_deref().unwrap(),
            &g.host(&format!("{def}-upstream")),
        );
        checkout(
            &git.join("qubes-vmm-xen.git.tar"),
            &d.source.commit,
            &g.host(&format!("{def}-data")),
        );
        script += &format!(
            "echo '== {pkg}'\nbash {sh} {ch} {pkg} {up} {data} {work} start\n",
            sh = g.inside("guix-phases.sh"),
            up = g.inside(&format!("{def}-upstream")),
            data = g.inside(&format!("{def}-data")),
            work = g.inside(&format!("work-{pkg}")),
        );
        packages.push((pkg, d.patches.clone()));
    }
    let o = g.run(&script);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));

    for (pkg, series) in &packages {
        let section: Vec<&str> = out
            .split(&format!("== {pkg}\n"))
            .nth(1)
            .unwrap()
            .split("\n== ")
            .next()
            .unwrap()
            .lines()
            .collect();
        // The series, in order, every file from the pinned data origin.
        let applied: Vec<&str> = section
            .iter()
            .filter_map(|l| l.strip_prefix("patch-applied applying '"))
            .collect();
        assert_eq!(applied.len(), series.len(), "{pkg}: {section:?}");
        for (a, p) in applied.iter().zip(series) {
            assert!(
                a.starts_with("/gnu/store/") && a.ends_with(&format!("/{}'", p.file)),
                "{pkg}: {a} is not {}",
                p.file
            );
        }
        let ok: Vec<&str> = section
            .iter()
            .filter_map(|l| l.strip_prefix("phase "))
            .filter_map(|l| {
                l.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
                    .strip_suffix(" ok ")
            })
            .collect();
        // Guix's phases and the channel's, in order, up to `build`.
        let mut want = vec![
            "set-SOURCE-DATE-EPOCH",
            "set-paths",
            "install-locale",
            "unpack",
            "unpack-mini-os",
        ];
        if *pkg == "xen-qubes" {
            want.extend([
                "alias-xenstored-directory",
                "patch",
                "remove-xenstored-alias",
            ]);
        } else {
            want.push("patch");
        }
        want.extend([
            "bootstrap",
            "patch-usr-bin-file",
            "patch-source-shebangs",
            "patch-xen-script-directory",
            "set-environment-up",
            "set-qubes-efi-vendor",
            "configure",
            "install-qubes-config",
            "check-qubes-config-kept",
            "patch-generated-file-shebangs",
            "make-efi-vendor-directories",
        ]);
        let ran: Vec<&str> = ok.iter().copied().filter(|p| want.contains(p)).collect();
        assert_eq!(ran, want, "{pkg}: phases {ok:?} in {section:?}");
        assert!(
            section
                .iter()
                .any(|l| l.starts_with("compiling ") && l.contains(" -c ")),
            "{pkg}: make compiled nothing: {section:?}"
        );
    }
}

#[test]
fn the_config_check_phase_fails_on_an_option_the_definition_no_longer_allows() {
    let Some(g) = Guix::get() else { return };
    let (_tmp, dir) = shipped_copy();
    let def = dir.join("qubes-xen-next.toml");
    let text = std::fs::read_to_string(&def).unwrap();
    let allowance = "allow_dropped_options = [\"CONFIG_HAS_PDX\"]\n";
    assert!(text.contains(allowance), "the shipped definition changed");
    std::fs::write(&def, text.replace(allowance, "")).unwrap();
    let defs = load_dir(&dir).unwrap();
    let x = defs.get("qubes-xen-next").unwrap().as_xen().unwrap();
    let Body::QubesData(d) = &defs.get(&x.data).unwrap().body else {
        panic!("data")
    };
    let ch = channel(&g, &dir, "channel");
    for f in ["guix-phases.sh", "guix-phases.scm"] {
        std::fs::copy(workspace().join("scripts").join(f), g.host(f)).unwrap();
    }
    let git = fixtures().join("git");
    checkout(
        &git.join("xen.git.tar"),
        x.upstream.commit.as_deref().unwrap(),
        &g.host("upstream"),
    );
    checkout(
        &git.join("qubes-vmm-xen.git.tar"),
        &d.source.commit,
        &g.host("data"),
    );
    let o = g.run(&format!(
        "bash {} {ch} xen-qubes-next {} {} {} start\n",
        g.inside("guix-phases.sh"),
        g.inside("upstream"),
        g.inside("data"),
        g.inside("work"),
    ));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(!o.status.success(), "{out}");
    assert!(
        err.contains("error: phase check-qubes-config-kept of xen-qubes-next failed"),
        "{out}\n{err}"
    );
    assert!(
        out.contains("olddefconfig turned off options Qubes' config sets: (\"CONFIG_HAS_PDX\")"),
        "{out}"
    );
    // The phases before it ran.
    assert!(out.contains("phase install-qubes-config ok "), "{out}");
}
