//! `package-defs build COMPONENT`: Qubes' vchan-xen, QubesDB and qrexec's VM side built from
//! their verified real trees against the vm build of `xen`, as their rpm specs build them.
//! Two builds in two folders give the same files; every ELF file has the bundle's RUNPATH
//! (libraries with NODEFLIB, programs without it, so they find the system's libc); with Xen's
//! guest libraries beside them, every program resolves every library from that tree and runs.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

fn build(real: &test_servers::RealRepos, downloads: &Path, builds: &Path, out: &Path) {
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(downloads)
        .args(["build", "qubes-core-qrexec", "--jobs", "2", "--build-cache"])
        .arg(builds)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn guest_components_build_reproducibly_and_load_only_the_bundle_tree() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (downloads, builds) = (tmp.path().join("dl"), tmp.path().join("builds"));
    let a = tmp.path().join("a");
    let b = tmp.path().join("elsewhere/b");
    build(&real, &downloads, &builds, &a);
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    build(&real, &downloads, &builds, &b);

    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("manifest.json")).unwrap()).unwrap();
    let mb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["outputs"], mb["outputs"], "two builds differ");
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let comps = package_defs::component::load(&shipped(), &defs).unwrap();
    let names: Vec<&str> = m["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "qubes-core-vchan-xen",
            "qubes-core-qubesdb",
            "qubes-core-qrexec"
        ]
    );
    for c in m["components"].as_array().unwrap() {
        let d = comps.iter().find(|d| d.name == c["name"]).unwrap();
        assert_eq!(c["commit"], d.source.commit.as_str());
        assert_eq!(c["tag"], d.source.tag.as_str());
    }
    // SOURCE_DATE_EPOCH: the newest tag of the chain (qrexec v4.2.25's tagger date).
    assert_eq!(m["environment"]["source_date_epoch"], 1771559171);
    let logs: Vec<String> = std::fs::read_dir(a.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for l in ["vchan-xen.log", "qubesdb-daemon.log", "qrexec-agent.log"] {
        assert!(logs.iter().any(|x| x == l), "{l}: {logs:?}");
    }

    // The tree a bundle would hold: Xen's guest libraries, then the components.
    let version = defs.get("xen").unwrap().version.to_string();
    let prefix = format!("opt/qubes-xen/{version}");
    let vm = tmp.path().join("vm");
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(&downloads)
        .args(["build", "xen", "--mode", "vm", "--build-cache"])
        .arg(&builds)
        .arg("-o")
        .arg(&vm)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let root = tmp.path().join("root");
    copy_dir(&vm.join("install"), &root);
    let o = Command::new("cp")
        .args(["-a", "--"])
        .arg(a.join("install/opt"))
        .arg(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pre = root.join(&prefix);
    for f in [
        "bin/qubesdb-daemon",
        "bin/qubesdb-read",
        "bin/qubesdb-write",
        "bin/qubesdb-multiread",
        "bin/qubesdb-watch",
        "bin/qubesdb-list",
        "bin/qrexec-agent",
        "bin/qrexec-client-vm",
        "bin/qrexec-fork-server",
        "lib/libvchan-xen.so.1",
        "lib/libqubesdb.so",
        "lib/libqrexec-utils.so.3",
        "include/vchan-xen/libvchan.h",
        "include/qrexec.h",
    ] {
        assert!(pre.join(f).exists(), "{f}");
    }
    for dir in ["bin", "lib"] {
        for e in std::fs::read_dir(pre.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.is_symlink() || p.is_dir() || !std::fs::read(&p).unwrap().starts_with(b"\x7fELF") {
                continue;
            }
            let d = stdout(
                &Command::new("readelf")
                    .args(["-d", "-l", "-W"])
                    .arg(&p)
                    .output()
                    .unwrap(),
            );
            assert!(
                d.contains("Library runpath: [$ORIGIN/../lib]"),
                "{}: {d}",
                p.display()
            );
            assert!(!d.contains("(RPATH)"), "{}", p.display());
            let program = d
                .lines()
                .any(|l| l.split_whitespace().next() == Some("INTERP"));
            assert_eq!(
                d.contains("NODEFLIB"),
                !program,
                "{}: NODEFLIB on libraries only",
                p.display()
            );
            if !program {
                // A NODEFLIB library alone finds no libc: the program that loads it has.
                continue;
            }
            let ldd = stdout(&Command::new("ldd").arg(&p).output().unwrap());
            assert!(!ldd.contains("not found"), "{}: {ldd}", p.display());
            for l in ldd.lines().filter(|l| {
                l.contains("libxen")
                    || l.contains("vchan")
                    || l.contains("qrexec")
                    || l.contains("qubesdb")
            }) {
                assert!(
                    l.contains(&format!("=> {}", root.display())),
                    "{}: {l}",
                    p.display()
                );
            }
        }
    }
    // They run: QubesDB's client prints its usage (no daemon needed for that).
    let o = Command::new(pre.join("bin/qubesdb-cmd")).output().unwrap();
    assert!(
        stderr(&o).contains("Available commands:") || stdout(&o).contains("Available commands:"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // An existing output is refused and kept.
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(&downloads)
        .args(["build", "qubes-core-qrexec", "-o"])
        .arg(&a)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}
