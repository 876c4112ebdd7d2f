//! `package-defs` on the real QubesOS/qubes-vmm-xen and Xen repositories, served on loopback
//! under their real URLs: `verify` of the shipped definitions passes, and the real `update`
//! writes the pins of ../shared/fixtures (commits and NAR hashes as Guix computes them, the
//! series rpm applies, the config) and, byte for byte, the shipped definitions.

mod common;
use common::*;

use package_defs::{load_dir, Body};
use test_servers::RealRepos;

fn rows(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn verify_of_the_shipped_definitions_passes() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let o = run_rewritten(
        &shipped(),
        cache.path(),
        &real.rewrite_env(),
        &["verify", "--json"],
    );
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v.as_array().unwrap();
    // The four xen/data packages and the ten Qubes components.
    assert_eq!(checks.len(), 14);
    for c in checks {
        assert_eq!(c["problems"], serde_json::json!([]), "{c}");
        assert!(
            c["checked"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "NAR sha256"),
            "{c}"
        );
    }
}

#[test]
fn update_to_v4_17_6_6_writes_the_real_pins_and_the_shipped_files() {
    let real = RealRepos::serve().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (_tmp, dir) = baseline_copy();
    let update = |args: &[&str]| {
        let mut a = vec!["update", "xen"];
        a.extend_from_slice(args);
        run_rewritten(&dir, cache.path(), &real.rewrite_env(), &a)
    };
    // No release tarball is reachable offline: its pin stays "unpinned".
    let o = update(&["4.17.6-6", "--skip-tarball", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["report"];
    // rpm's two `PAtch065x:` lines are in the series, not reported as dead files.
    assert_eq!(
        r["patches"]["unlisted"],
        serde_json::json!([
            "0315-amd-vi-fix-IVMD-memory-type-checks.patch",
            "1020-xen-tools-qubes-vm.patch"
        ])
    );
    assert_eq!(
        r["security"]["dropped"],
        serde_json::json!(["0500-xsa458.patch"])
    );

    let defs = load_dir(&dir).unwrap();
    let pins = rows(&fixtures().join("upstream/pins.tsv"));
    let pin = |r: &str| pins.iter().find(|p| p[1] == r).unwrap().clone();
    let x = defs.get("xen").unwrap();
    assert_eq!(x.version.to_string(), "4.17.6-6");
    let Body::Xen(xd) = &x.body else { panic!() };
    let up = pin("RELEASE-4.17.6");
    assert_eq!(xd.upstream.git, up[0]);
    assert_eq!(xd.upstream.commit.as_deref(), Some(up[2].as_str()));
    assert_eq!(xd.upstream.nar_sha256.as_deref(), Some(up[3].as_str()));
    assert_eq!(xd.upstream.tarball.sha256, None);
    let Body::QubesData(dd) = &defs.get("qubes-vmm-xen-data").unwrap().body else {
        panic!()
    };
    let q = pin("v4.17.6-6");
    assert_eq!(
        (
            dd.source.tag.as_deref(),
            dd.source.commit.as_str(),
            dd.source.nar_sha256.as_str()
        ),
        (Some(q[1].as_str()), q[2].as_str(), q[3].as_str())
    );
    let fx = fixtures().join("qubes-vmm-xen/v4.17.6-6");
    let series = rows(&fx.join("patches.tsv"));
    assert_eq!(series.len(), 111);
    let got: Vec<(String, &str, &str)> = dd
        .patches
        .iter()
        .map(|p| {
            (
                format!("{:04}", p.number),
                p.file.as_str(),
                p.sha256.as_str(),
            )
        })
        .collect();
    let want: Vec<(String, &str, &str)> = series
        .iter()
        .map(|r| (r[0].clone(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        dd.config.sha256,
        content_hash::hash_file(&fx.join("config"))
            .unwrap()
            .0
            .to_hex()
    );
    // A first update fetches shallow: the tagged commits, none of their history (Xen's
    // 127 MB of history would otherwise come with RELEASE-4.17.6).
    let repos: Vec<_> = std::fs::read_dir(cache.path().join("git"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "git"))
        .collect();
    assert_eq!(repos.len(), 2, "{repos:?}");
    for repo in &repos {
        let o = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo)
            .args(["rev-list", "--count", "--all"])
            .output()
            .unwrap();
        // Every commit there is a shallow boundary: the tags fetched (old and new), no parents.
        let shallow = std::fs::read_to_string(repo.join("shallow")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            shallow.lines().count().to_string(),
            "{repo:?}"
        );
    }
    // The shipped definitions are exactly what this update writes.
    for f in ["xen.toml", "qubes-vmm-xen-data.toml"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(f)).unwrap(),
            std::fs::read_to_string(shipped().join(f)).unwrap(),
            "{f}"
        );
    }

    // Asking again is a no-op; going back writes the v4.17.4-5 baseline byte for byte.
    noop_unchanged(
        &dir,
        "update to the pinned version",
        "xen: 4.17.6-6",
        || update(&["4.17.6-6"]),
    );
    let o = update(&["4.17.4-5", "--allow-downgrade", "--skip-tarball", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["xen.toml", "qubes-vmm-xen-data.toml"] {
        assert_eq!(
            std::fs::read_to_string(dir.join(f)).unwrap(),
            std::fs::read_to_string(baseline_files().join(f)).unwrap(),
            "{f}"
        );
    }
}

/// `verify` under a pseudo-terminal (util-linux `script`), with an empty cache: stderr shows
/// what is being fetched while git works; with `-q`, or when stderr is not a terminal, nothing.
#[test]
fn git_fetches_show_a_spinner_on_a_terminal_only() {
    let real = RealRepos::serve().unwrap();
    let on_tty = |extra: &str| {
        let cache = tempfile::tempdir().unwrap();
        let cmd = format!(
            "{} --definitions {} --cache {} verify {extra}",
            env!("CARGO_BIN_EXE_package-defs"),
            shipped().display(),
            cache.path().display()
        );
        let o = std::process::Command::new("script")
            .args(["-qefc", &cmd, "/dev/null"])
            .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
            .env("TERM", "xterm")
            .output()
            .expect("script (util-linux)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let shown = on_tty("");
    for tag in ["RELEASE-4.17.6", "v4.17.6-6", "RELEASE-4.19.4", "v4.19.4-9"] {
        assert!(
            shown.contains(&format!("git fetch tag {tag} from ")),
            "{tag}:\n{shown}"
        );
    }
    assert!(!on_tty("-q").contains("git fetch tag"));
    let cache = tempfile::tempdir().unwrap();
    let o = run_rewritten(&shipped(), cache.path(), &real.rewrite_env(), &["verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("git fetch tag"), "{}", stderr(&o));
}
