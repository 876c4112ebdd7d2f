//! `package-defs build --mode vm` as a user runs it: the shipped `xen` definition, the real
//! repositories served on loopback under their real URLs. The VM series of the pinned Arch
//! recipe is applied (1020-xen-tools-qubes-vm.patch among it), libxenvchan's closure lands
//! under the private prefix with `RUNPATH=$ORIGIN/../lib`, and two builds without a cache
//! give the same files.

mod common;
use common::*;

use std::path::Path;
use std::process::Command;

/// `package-defs build xen --mode vm` into `out`, without the build cache.
fn vm_build(real: &test_servers::RealRepos, cache: &Path, out: &Path) -> serde_json::Value {
    vm_build_of("xen", real, cache, out)
}

fn vm_build_of(
    package: &str,
    real: &test_servers::RealRepos,
    cache: &Path,
    out: &Path,
) -> serde_json::Value {
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(cache)
        .args(["build", package, "--mode", "vm", "--json", "--jobs", "2"])
        .arg("--no-cache")
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn vm_build_applies_the_recipe_series_and_links_the_closure_with_a_relative_runpath() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("downloads");
    let out = tmp.path().join("out/xen-vm");
    let t = std::time::Instant::now();
    let m = vm_build(&real, &cache, &out);
    eprintln!("vm build: {:.1} s", t.elapsed().as_secs_f64());

    let defs = package_defs::load_dir(&shipped()).unwrap();
    let xen = defs.get("xen").unwrap();
    let prefix = format!("/opt/qubes-xen/{}", xen.version);
    assert_eq!(m["mode"], "vm");
    assert_eq!(m["prefix"], prefix.as_str());

    // The series is the recipe's, read from the pinned Qubes tree (not the spec's).
    let tag = defs
        .get("qubes-vmm-xen-data")
        .and_then(|d| d.as_data())
        .and_then(|d| d.source.tag.clone())
        .unwrap();
    let git = tempfile::tempdir().unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(test_servers::real::shared_dir().join("fixtures/git/qubes-vmm-xen.git.tar"))
        .arg("-C")
        .arg(git.path())
        .status()
        .unwrap();
    assert!(st.success());
    let show = Command::new("git")
        .arg("--git-dir")
        .arg(git.path().join("qubes-vmm-xen.git"))
        .arg("show")
        .arg(format!("{tag}:archlinux/PKGBUILD.in"))
        .output()
        .unwrap();
    assert!(show.status.success(), "{}", stderr(&show));
    let recipe = stdout(&show);
    let listed: Vec<&str> = recipe
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".patch") && !l.contains(' '))
        .collect();
    let applied: Vec<&str> = m["inputs"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(applied, listed);
    assert!(applied.contains(&"1020-xen-tools-qubes-vm.patch"));
    let log = std::fs::read_to_string(out.join("logs/patch.log")).unwrap();
    assert_eq!(log.lines().collect::<Vec<_>>(), listed);
    assert_eq!(
        m["inputs"]["vm_recipe"],
        "archlinux/PKGBUILD.in: patch -s -F0 -E -p1 --no-backup-if-mismatch"
    );
    // Configure: the private prefix, then the recipe's own flags.
    let flags: Vec<&str> = m["inputs"]["configure_flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(flags[0], format!("--prefix={prefix}"));
    assert!(flags.contains(&"--disable-pvshim"), "{flags:?}");

    // The closure, from uselibs.mk.
    assert_eq!(
        m["libraries"],
        serde_json::json!([
            "toollog",
            "toolcore",
            "store",
            "gnttab",
            "evtchn",
            "vchan",
            "call",
            "foreignmemory",
            "devicemodel",
            "ctrl"
        ])
    );
    let lib = out.join("install").join(&prefix[1..]).join("lib");
    let mut sonames = Vec::new();
    for e in std::fs::read_dir(&lib).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !p.is_symlink() && name.contains(".so.") {
            let d = Command::new("readelf").arg("-d").arg(&p).output().unwrap();
            let d = stdout(&d);
            assert!(
                d.contains("(RUNPATH)") && d.contains("Library runpath: [$ORIGIN/../lib]"),
                "{name}: {d}"
            );
            assert!(!d.contains("(RPATH)"), "{name}: {d}");
            // No default search paths: a library missing here is never /usr/lib's.
            assert!(d.contains("Flags: NODEFLIB"), "{name}: {d}");
            sonames.push(name.clone());
        }
        assert!(!name.ends_with(".a"), "static library {name} kept");
    }
    sonames.sort();
    assert_eq!(sonames.len(), 10, "{sonames:?}");
    assert!(sonames.iter().any(|s| s.starts_with("libxenvchan.so.4.17")));
    // libvchan-xen links libxenctrl; nothing outside the two closures is built.
    assert!(sonames.iter().any(|s| s.starts_with("libxenctrl.so.4.17")));
    assert!(!lib.join("libxenlight.so").exists(), "outside the closure");
    assert!(!lib.join("libxenguest.so").exists(), "outside the closure");
    let pc = std::fs::read_to_string(lib.join("pkgconfig/xenvchan.pc")).unwrap();
    assert!(pc.starts_with(&format!("prefix={prefix}\n")), "{pc}");
    assert!(pc.contains("\nlibdir=${prefix}/lib\n"), "{pc}");
    assert!(
        pc.contains("Libs: -L${libdir} -Wl,-rpath,${libdir} -lxenvchan"),
        "{pc}"
    );
    let header = out
        .join("install")
        .join(&prefix[1..])
        .join("include/libxenvchan.h");
    assert!(header.is_file());
    // Every output file is in the manifest with its sha256.
    let (h, _) = content_hash::hash_file(&lib.join("pkgconfig/xenvchan.pc")).unwrap();
    assert_eq!(
        m["outputs"][format!("install{prefix}/lib/pkgconfig/xenvchan.pc")],
        h.to_hex()
    );

    // Reproducible: a second build from scratch gives the same tree.
    let again = tmp.path().join("out/xen-vm-again");
    let m2 = vm_build(&real, &cache, &again);
    assert_eq!(m2["outputs"], m["outputs"]);
    assert_eq!(m2["key"], m["key"]);
}

#[test]
fn vm_build_of_the_next_stream_follows_its_own_recipe() {
    // Xen 4.19 at v4.19.4-9: other patch numbers, and the recipe adds --enable-systemd.
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("next-vm");
    let m = vm_build_of("qubes-xen-next", &real, &tmp.path().join("downloads"), &out);
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let version = defs.get("qubes-xen-next").unwrap().version.to_string();
    assert_eq!(m["prefix"], format!("/opt/qubes-xen/{version}"));
    let patches: Vec<&str> = m["inputs"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        patches.iter().any(|p| p.starts_with("0629 0629-python-")),
        "{patches:?}"
    );
    assert!(patches
        .iter()
        .any(|p| p.contains(" 1020-xen-tools-qubes-vm.patch ")));
    let flags = m["inputs"]["configure_flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "--enable-systemd"), "{flags:?}");
    let (series, _) = version.split_once('-').unwrap();
    let minor: Vec<&str> = series.split('.').take(2).collect();
    let so = out.join(format!(
        "install/opt/qubes-xen/{version}/lib/libxenvchan.so.{}",
        minor.join(".")
    ));
    assert!(so.exists(), "{}", so.display());
}

/// A cached vm build is checked, not trusted: one byte of a cached library changed is a
/// warning, the entry is dropped, and the build runs again with the right library.
#[test]
fn a_corrupt_cached_library_is_dropped_and_built_again() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    let builds = tmp.path().join("build-cache");
    let build = |out: &Path| {
        bin()
            .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
            .arg("--definitions")
            .arg(shipped())
            .arg("--cache")
            .arg(&downloads)
            .args(["build", "xen", "--mode", "vm", "--json", "--jobs", "2"])
            .arg("--build-cache")
            .arg(&builds)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let first = tmp.path().join("out/first");
    let o = build(&first);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let entry = builds.join(m["key"].as_str().unwrap());
    let lib = m["outputs"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.contains("/lib/libxenvchan.so."))
        .expect("libxenvchan in the outputs")
        .clone();
    let cached = entry.join(&lib);
    // The real file, not the soname link.
    assert!(!cached.symlink_metadata().unwrap().file_type().is_symlink());
    flip_a_byte(&cached);

    let second = tmp.path().join("out/second");
    let o = build(&second);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "warning: build cache entry {} is corrupt",
            entry.display()
        )) && e.contains(&lib),
        "{e}"
    );
    let m2: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(m2["outputs"], m["outputs"]);
    assert!(!second.join("logs/from-cache.txt").exists(), "built again");
    let (h, _) = content_hash::hash_file(&second.join(&lib)).unwrap();
    assert_eq!(m["outputs"][lib.as_str()], h.to_hex());
}
