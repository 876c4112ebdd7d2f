//! dom0's side of Qubes' components (`build COMPONENT --dom0`): vchan-xen, QubesDB and
//! qrexec-daemon/qrexec-client built from the verified real trees against Qubes' full Xen
//! build, under /usr. A full build of the shipped `xen` found in the build cache is reused
//! (the baseline run makes one); without one, it is built (about 10 minutes on 2 cores).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

use package_defs::build::guest::{build_side, GuestSource, Side};
use package_defs::sources::fetch::GitSources;

/// A cached full build of the shipped `xen`, or one made now.
fn full_build(real: &test_servers::RealRepos, tmp: &Path) -> PathBuf {
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let version = defs.get("xen").unwrap().version.to_string();
    if let Some(cache) = package_defs::build::default_cache_dir() {
        for e in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(e.path().join("manifest.json")) else {
                continue;
            };
            let Ok(m) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if m["mode"] == "full" && m["package"] == "xen" && m["version"] == version.as_str() {
                return e.path();
            }
        }
    }
    let out = tmp.join("full");
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(tmp.join("dl"))
        .args(["build", "xen", "--jobs", "2", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    out
}

#[test]
fn dom0_side_builds_against_the_full_build_and_resolves_its_libraries() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let full = full_build(&real, tmp.path());
    let mut rw = source_fetch::UrlRewrites::default();
    for (from, to) in real.rewrites() {
        rw.push(from.as_str(), to.as_str());
    }
    let src = GitSources::new(
        &tmp.path().join("dl"),
        rw,
        std::time::Duration::from_secs(60),
        true,
    )
    .unwrap();
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let comps = package_defs::component::load(&shipped(), &defs).unwrap();
    let mut chain = Vec::new();
    for name in [
        "qubes-core-vchan-xen",
        "qubes-core-qubesdb",
        "qubes-core-qrexec",
    ] {
        let c = comps.iter().find(|c| c.name == name).unwrap();
        let tree = tmp.path().join(name);
        let commit =
            package_defs::component::fetch_checked(&shipped(), c, c.version, &src, &tree, false)
                .unwrap();
        let epoch = package_defs::sources::fetch::Sources::source_date(
            &src,
            &c.source.repo,
            Some(&c.source.tag),
            &commit,
        )
        .unwrap();
        chain.push(GuestSource {
            component: c,
            tree,
            tag_epoch: epoch,
        });
    }
    let opts = package_defs::build::BuildOptions {
        jobs: 2,
        ..Default::default()
    };
    let out = tmp.path().join("dom0");
    let m = build_side(Side::Dom0, &chain, &full, &opts, &out).unwrap();
    assert_eq!(m.prefix, "/usr");
    assert_eq!(m.side, Side::Dom0);
    // A vm build is not what dom0's side builds against.
    let e = build_side(Side::Guest, &chain, &full, &opts, &tmp.path().join("x"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("a full build; expected a vm build"), "{e}");

    // The full build's libraries with the components': every program resolves every
    // library from that tree.
    let root = tmp.path().join("root");
    copy_dir(&full.join("install/usr/lib"), &root.join("usr/lib"));
    let o = Command::new("cp")
        .args(["-a", "--"])
        .arg(out.join("install/usr"))
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for p in [
        "usr/sbin/qrexec-daemon",
        "usr/bin/qrexec-client",
        "usr/bin/qubesdb-daemon",
        "usr/bin/qubesdb-cmd",
    ] {
        let p = root.join(p);
        let d = stdout(
            &Command::new("readelf")
                .args(["-d"])
                .arg(&p)
                .output()
                .unwrap(),
        );
        assert!(
            d.contains("Library runpath: [$ORIGIN/../lib]"),
            "{}: {d}",
            p.display()
        );
        let ldd = stdout(&Command::new("ldd").arg(&p).output().unwrap());
        assert!(!ldd.contains("not found"), "{}: {ldd}", p.display());
        // The components' libraries and the Xen libraries they link come from the tree (their
        // RUNPATH); what the full build's own libraries load is found where dom0 has them,
        // /usr/lib (that build has no RUNPATH: at `/` that is this tree).
        for l in ldd.lines().filter(|l| {
            [
                "libxenvchan",
                "libxenctrl",
                "libxenstore",
                "vchan-xen",
                "qrexec",
                "qubesdb",
            ]
            .iter()
            .any(|n| l.contains(n))
                && l.contains("=>")
        }) {
            assert!(
                l.contains(&format!("=> {}", root.display())),
                "{}: {l}",
                p.display()
            );
        }
    }
    let o = Command::new(root.join("usr/bin/qrexec-client"))
        .arg("--help")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(text.contains("-d"), "{text}");
}
