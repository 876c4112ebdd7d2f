//! `package-defs bundle` as a template maintainer uses it: the shipped `xen` definition built
//! in vm mode from the real repositories (served on loopback under their real URLs), packed
//! with the workspace's `xs`, unpacked with the system's `tar` into a temporary root. Debian's
//! own libxen is installed on the test machines, so any fallback to it would show.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace's `xs` (cargo test --workspace builds it beside package-defs), else built
/// once into its own target folder; stripped into `dir` (a debug build is 40 MB).
fn xs(dir: &Path) -> PathBuf {
    let stripped = dir.join("xs");
    let o = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(unstripped_xs())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stripped
}

fn unstripped_xs() -> PathBuf {
    let beside = Path::new(env!("CARGO_BIN_EXE_package-defs")).with_file_name("xs");
    if beside.is_file() {
        return beside;
    }
    let target = workspace().join("target/xs-for-tests");
    let o = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            "xenstore-client",
            "--features",
            "cli",
            "--bin",
            "xs",
        ])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    target.join("debug/xs")
}

fn pd(real: &test_servers::RealRepos, downloads: &Path, args: &[&str]) -> Output {
    bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(downloads)
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn untar(file: &Path, root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let o = Command::new("tar")
        .arg("-xzf")
        .arg(file)
        .arg("-C")
        .arg(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The README's removal loop, run in `root` on `list`.
fn uninstall(root: &Path, list: &Path) {
    let script = r#"cd "$1" && while IFS= read -r p; do
  case "$p" in
    */) rmdir "$p" 2>/dev/null || true ;;
    *' -> '*) l=${p%% -> *}; if [ "$(readlink "$l")" = "${p#* -> }" ]; then rm -f "$l"; fi ;;
    *) rm -f "$p" ;;
  esac
done < "$2""#;
    let o = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(root)
        .arg(list)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

const PROGRAM: &str = r#"#include <stdio.h>
#include <libxenvchan.h>
/* No hypervisor here: this checks where the loader finds the libraries. */
int main(void) {
    printf("libxenvchan_client_init at %p\n", (void *)&libxenvchan_client_init);
    return 0;
}
"#;

#[test]
fn bundle_is_reproducible_loads_only_its_own_libraries_and_uninstalls_cleanly() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    let builds = tmp.path().join("build-cache");
    let xs = xs(tmp.path());
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let version = defs.get("xen").unwrap().version.to_string();

    // Two bundles, each from its own build (the second without the cache): same bytes.
    let a = tmp.path().join("a.tar.gz");
    let t = std::time::Instant::now();
    let o = pd(
        &real,
        &downloads,
        &[
            "bundle",
            "xen",
            "--json",
            "--jobs",
            "2",
            "--build-cache",
            s(&builds),
            "--xs",
            s(&xs),
            "-o",
            s(&a),
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    eprintln!(
        "bundle with its vm build: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let b = tmp.path().join("b.tar.gz");
    let o = pd(
        &real,
        &downloads,
        &[
            "bundle",
            "xen",
            "--jobs",
            "2",
            "--no-cache",
            "--xs",
            s(&xs),
            "-o",
            s(&b),
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let bytes = std::fs::read(&a).unwrap();
    assert!(bytes == std::fs::read(&b).unwrap(), "two bundles differ");
    eprintln!("bundle: {} bytes", bytes.len());
    let (h, _) = content_hash::hash_file(&a).unwrap();
    assert_eq!(report["sha256"], h.to_hex());
    assert_eq!(report["bytes"], bytes.len() as u64);
    let prefix = format!("/opt/qubes-xen/{version}");
    assert_eq!(report["prefix"], prefix.as_str());

    // An existing tarball is refused and kept.
    let o = pd(
        &real,
        &downloads,
        &["bundle", "xen", "--xs", s(&xs), "-o", s(&a)],
    );
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "error: {}: already exists; remove it or pass --replace",
            a.display()
        )
    );

    // A missing xs is named before anything is built.
    let missing = tmp.path().join("no-xs");
    let o = pd(
        &real,
        &downloads,
        &[
            "bundle",
            "xen",
            "--xs",
            s(&missing),
            "-o",
            s(&tmp.path().join("c.tar.gz")),
        ],
    );
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "error: {}: not found; expected the xs program (cargo build -p xenstore-client --features cli)",
            missing.display()
        )
    );
    assert!(!tmp.path().join("c.tar.gz").exists());

    // The entries: sorted, 0:0, dated by the Qubes tag, nothing outside the root.
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut paths = Vec::new();
    let mut mtimes = std::collections::BTreeSet::new();
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        mtimes.insert(h.mtime().unwrap());
        let p = e.path().unwrap().to_string_lossy().into_owned();
        assert!(
            !p.starts_with('/') && !p.split('/').any(|c| c == ".."),
            "{p}"
        );
        assert!(p.starts_with("opt/"), "{p}");
        paths.push(p);
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(report["entries"], paths.len());
    let root = tmp.path().join("root");
    untar(&a, &root);
    let pre = root.join(&prefix[1..]);
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(pre.join("share/qubes-xen/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        mtimes.into_iter().collect::<Vec<_>>(),
        [m["source_date_epoch"].as_u64().unwrap()]
    );

    // The layout a template maintainer expects, and the manifest's pins and hashes.
    assert_eq!(
        std::fs::read_link(root.join("opt/qubes-xen/current")).unwrap(),
        Path::new(&version)
    );
    for f in [
        "bin/xs",
        "lib/pkgconfig/xenvchan.pc",
        "include/libxenvchan.h",
        "share/qubes-xen/uninstall.list",
        "share/qubes-xen/SHA256SUMS",
    ] {
        assert!(pre.join(f).is_file(), "{f}");
    }
    let data = defs.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();
    assert_eq!(m["pins"]["qubes_tag"], data.source.tag.as_deref().unwrap());
    assert_eq!(m["pins"]["qubes_commit"], data.source.commit.as_str());
    assert_eq!(
        m["pins"]["upstream_commit"].as_str(),
        defs.get("xen")
            .unwrap()
            .as_xen()
            .unwrap()
            .upstream
            .commit
            .as_deref()
    );
    assert!(m["pins"]["patches"].as_array().unwrap().iter().any(|p| p
        .as_str()
        .unwrap()
        .contains(" 1020-xen-tools-qubes-vm.patch ")));
    let files = m["files"].as_object().unwrap();
    for (f, sha) in files {
        let (h, _) = content_hash::hash_file(&pre.join(f)).unwrap();
        assert_eq!(sha.as_str().unwrap(), h.to_hex(), "{f}");
    }
    let regular = tree(&pre)
        .into_iter()
        .filter(|p| {
            let p = pre.join(p);
            p.is_file() && !p.is_symlink()
        })
        .count();
    assert_eq!(
        files.len() + 2,
        regular,
        "all but manifest.json and SHA256SUMS"
    );
    let o = Command::new("sha256sum")
        .args(["-c", "--quiet", "share/qubes-xen/SHA256SUMS"])
        .current_dir(root.join("opt/qubes-xen/current"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = Command::new(pre.join("bin/xs"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // A C program built with the bundle's pkg-config file loads the bundle's libraries.
    let pkgconfig = root.join("opt/qubes-xen/current/lib/pkgconfig");
    let o = Command::new("pkg-config")
        .args(["--define-prefix", "--cflags", "--libs", "xenvchan"])
        .env("PKG_CONFIG_PATH", &pkgconfig)
        .env("PKG_CONFIG_LIBDIR", &pkgconfig)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let flags = stdout(&o);
    assert!(
        flags.contains(&format!(
            "-L{}",
            root.join("opt/qubes-xen/current/lib").display()
        )),
        "{flags}"
    );
    let src = tmp.path().join("t.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let prog = tmp.path().join("t");
    let o = Command::new("cc")
        .arg(&src)
        .arg("-o")
        .arg(&prog)
        .args(flags.split_whitespace())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(&prog).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new("ldd").arg(&prog).output().unwrap();
    let ldd = stdout(&o);
    let libxen: Vec<&str> = ldd.lines().filter(|l| l.contains("libxen")).collect();
    assert_eq!(libxen.len(), 6, "{ldd}");
    let lib = root.join("opt/qubes-xen/current/lib");
    for l in &libxen {
        assert!(
            l.contains(&format!("=> {}/", lib.display())),
            "not the bundle's: {l}\n{ldd}"
        );
    }

    // A library missing from the bundle is a loader error naming it, although Debian's
    // libxenstore.so.4 is right there in the default search path.
    let debian = [
        "/usr/lib/x86_64-linux-gnu/libxenstore.so.4",
        "/lib/x86_64-linux-gnu/libxenstore.so.4",
    ];
    assert!(
        debian.iter().any(|p| Path::new(p).exists()),
        "Debian's libxenstore must be installed for this check to mean anything"
    );
    std::fs::remove_file(lib.join("libxenstore.so.4")).unwrap();
    let o = Command::new(&prog).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("libxenstore.so.4: cannot open shared object file"),
        "{}",
        stderr(&o)
    );

    // A newer bundle unpacked over an older one: `current` moves, the old folder stays until
    // its own uninstall list removes it, which leaves the new one whole.
    let vm = tmp.path().join("vm");
    let o = pd(
        &real,
        &downloads,
        &[
            "build",
            "xen",
            "--mode",
            "vm",
            "--build-cache",
            s(&builds),
            "-o",
            s(&vm),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let old_version = "4.17.4-5";
    let old = tmp.path().join("vm-old");
    copy_dir(&vm, &old);
    std::fs::rename(
        old.join(format!("install/opt/qubes-xen/{version}")),
        old.join(format!("install/opt/qubes-xen/{old_version}")),
    )
    .unwrap();
    let mpath = old.join("manifest.json");
    let mut om: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    om["prefix"] = format!("/opt/qubes-xen/{old_version}").into();
    std::fs::write(&mpath, om.to_string()).unwrap();
    let old_tar = tmp.path().join("old.tar.gz");
    package_defs::bundle::write(&old, &xs, &old_tar, false).unwrap();
    let root2 = tmp.path().join("root2");
    untar(&old_tar, &root2);
    assert_eq!(
        std::fs::read_link(root2.join("opt/qubes-xen/current")).unwrap(),
        Path::new(old_version)
    );
    untar(&a, &root2);
    assert_eq!(
        std::fs::read_link(root2.join("opt/qubes-xen/current")).unwrap(),
        Path::new(&version)
    );
    let kept = root2.join(format!(
        "opt/qubes-xen/{old_version}/share/qubes-xen/uninstall.list"
    ));
    let list = tmp.path().join("old-uninstall.list");
    std::fs::copy(&kept, &list).unwrap();
    uninstall(&root2, &list);
    assert!(!root2.join(format!("opt/qubes-xen/{old_version}")).exists());
    let o = Command::new("sha256sum")
        .args(["-c", "--quiet", "share/qubes-xen/SHA256SUMS"])
        .current_dir(root2.join("opt/qubes-xen/current"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // The uninstall list removes exactly the bundle's files: from a root holding only the
    // bundle and one file of someone else's, only that file stays.
    let root3 = tmp.path().join("root3");
    std::fs::create_dir_all(root3.join("opt")).unwrap();
    std::fs::write(root3.join("opt/other"), "not ours").unwrap();
    untar(&a, &root3);
    let list = tmp.path().join("uninstall.list");
    std::fs::copy(
        root3
            .join(&prefix[1..])
            .join("share/qubes-xen/uninstall.list"),
        &list,
    )
    .unwrap();
    uninstall(&root3, &list);
    assert_eq!(tree(&root3), ["opt", "opt/other"]);
    // Every line names something under the bundle's own folder: never `opt/` itself.
    let text = std::fs::read_to_string(&list).unwrap();
    for l in text.lines() {
        assert!(l.starts_with("opt/qubes-xen/"), "{l}");
    }

    // An empty `/opt` that was there before the bundle is still there after its uninstall;
    // one that unpacking made stays too (the system's folder, empty).
    for had_opt in [true, false] {
        let root4 = tmp.path().join(format!("root4-{had_opt}"));
        std::fs::create_dir_all(&root4).unwrap();
        if had_opt {
            std::fs::create_dir(root4.join("opt")).unwrap();
        }
        untar(&a, &root4);
        uninstall(&root4, &list);
        assert_eq!(tree(&root4), ["opt"], "/opt there before: {had_opt}");
    }
}

/// Every public header of the bundle, and one function of each of its libraries.
const EVERY_HEADER: &str = r#"#include <stdio.h>
#include <libxenvchan.h>
#include <xenstore.h>
#include <xenstore_lib.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xentoolcore.h>
#include <xentoollog.h>
#include <xen/io/libxenvchan.h>
#include <xen/sys/evtchn.h>
/* No hypervisor here: this checks that it compiles, links and loads from the bundle. */
int main(void) {
    printf("%p %p %p %p %p %p\n", (void *)&libxenvchan_client_init, (void *)&xs_open,
           (void *)&xenevtchn_open, (void *)&xengnttab_open, (void *)&xentoolcore_restrict_all,
           (void *)&xtl_createlogger_stdiostream);
    return 0;
}
"#;

/// The sid root of `scripts/sid-cc-root.sh` (gcc, pkg-config, no Xen), or `None` after saying
/// loudly why this machine cannot make one (not root).
fn sid_cc_root() -> Option<PathBuf> {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: building against the bundle in a root without Xen needs root (debootstrap, chroot) ***\n"
        );
        return None;
    }
    let o = Command::new(workspace().join("scripts/sid-cc-root.sh"))
        .output()
        .unwrap();
    assert!(o.status.success(), "scripts/sid-cc-root.sh: {}", stderr(&o));
    Some(PathBuf::from(stdout(&o).trim()))
}

/// Runs `script` (sh) with `$1` = `root` in private mount namespace where `root`'s `/opt` and
/// `/tmp` are fresh tmpfs: the cached root is left as it was.
fn in_scratch_root(root: &Path, script: &str, args: &[&Path]) -> Output {
    let wrapped = format!(
        "set -eu\nmount -t tmpfs tmpfs \"$1/opt\"\nmount -t tmpfs tmpfs \"$1/tmp\"\nmount -t proc proc \"$1/proc\"\n{script}"
    );
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(wrapped)
        .arg("sh")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn programs_build_against_the_bundle_where_no_xen_header_exists_outside_it() {
    let Some(root) = sid_cc_root() else {
        return;
    };
    // The point of the root: nothing of Xen for the compiler to find instead of the bundle's.
    // (`usr/include/xen/` is Linux's own: linux-libc-dev's evtchn.h, gntdev.h, privcmd.h...)
    for d in ["usr/include", "usr/local/include"] {
        let xen: Vec<_> = std::fs::read_dir(root.join(d))
            .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        let xen: Vec<_> = xen
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.contains("xen") && n != "xen")
            .collect();
        assert!(xen.is_empty(), "{}/{d} has {xen:?}", root.display());
    }
    for f in ["xen/xen.h", "xen/io", "xen/sys", "xen/event_channel.h"] {
        let p = root.join("usr/include").join(f);
        assert!(!p.exists(), "{} exists", p.display());
    }
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let xs = xs(tmp.path());
    let bundle = tmp.path().join("bundle.tar.gz");
    let o = pd(
        &real,
        &tmp.path().join("downloads"),
        &[
            "bundle",
            "xen",
            "--jobs",
            "2",
            "--build-cache",
            s(&tmp.path().join("builds")),
            "--xs",
            s(&xs),
            "-o",
            s(&bundle),
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let src = tmp.path().join("every-header.c");
    std::fs::write(&src, EVERY_HEADER).unwrap();

    // The README's commands, at `/` of the sid root.
    let build = r#"tar -xzf "$2" -C "$1"
cp "$3" "$1/tmp/t.c"
chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin sh -euc '
  cd /opt/qubes-xen/current && sha256sum -c --quiet share/qubes-xen/SHA256SUMS
  export PKG_CONFIG_PATH=/opt/qubes-xen/current/lib/pkgconfig
  cc -Wall -Werror /tmp/t.c -o /tmp/t $(pkg-config --cflags --libs xenvchan xenstore xenevtchn xengnttab xentoolcore xentoollog)
  /tmp/t
  ldd /tmp/t | grep libxen
  # Without the bundle’s Xen headers, nothing else in this root provides them.
  rm -r /opt/qubes-xen/current/include/xen
  if cc -c /tmp/t.c -o /tmp/t.o $(pkg-config --cflags xenvchan) 2>/tmp/err; then
    echo "compiled without the bundle’s xen/ headers"; exit 1
  fi
  grep "xen/.*: No such file or directory" /tmp/err
'"#;
    let o = in_scratch_root(&root, build, &[&bundle, &src]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let libxen: Vec<&str> = out.lines().filter(|l| l.contains("libxen")).collect();
    let from_bundle = libxen
        .iter()
        .filter(|l| l.contains("=> /opt/qubes-xen/"))
        .count();
    // Six libraries loaded, each from the bundle; then the compile without xen/ failed.
    assert_eq!(from_bundle, 6, "{out}");
    assert!(
        out.contains("No such file or directory"),
        "the control compile did not fail on a missing xen/ header: {out}"
    );
}

#[test]
fn bundle_with_components_runs_qubes_programs_where_nothing_of_xen_exists_outside_it() {
    let Some(root) = sid_cc_root() else {
        return;
    };
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let xs = xs(tmp.path());
    let bundle = tmp.path().join("bundle.tar.gz");
    let args = |out: &Path| {
        vec![
            "bundle".to_string(),
            "xen".into(),
            "--with-components".into(),
            "--jobs".into(),
            "2".into(),
            "--build-cache".into(),
            s(&tmp.path().join("builds")).into(),
            "--xs".into(),
            s(&xs).into(),
            "--json".into(),
            "-o".into(),
            s(out).into(),
        ]
    };
    let a: Vec<String> = args(&bundle);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = pd(&real, &tmp.path().join("downloads"), &a);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Reproducible with the components too.
    let again = tmp.path().join("again.tar.gz");
    let b: Vec<String> = args(&again);
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let o = pd(&real, &tmp.path().join("downloads"), &b);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        std::fs::read(&bundle).unwrap() == std::fs::read(&again).unwrap(),
        "two bundles with components differ"
    );

    let run = r#"tar -xzf "$2" -C "$1"
chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin sh -euc '
  cd /opt/qubes-xen/current && sha256sum -c --quiet share/qubes-xen/SHA256SUMS
  grep -c "\"name\": \"qubes-core-" share/qubes-xen/manifest.json
  B=/opt/qubes-xen/current/bin
  for p in qubesdb-daemon qubesdb-cmd qrexec-agent qrexec-client-vm qrexec-fork-server; do
    echo "== $p"; ldd $B/$p
  done
  $B/qubesdb-read -h 2>&1 | head -1 || true
  echo "qubesdb-read ran"
'"#;
    let o = in_scratch_root(&root, run, &[&bundle]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(!out.contains("not found"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "3"),
        "three components in the manifest: {out}"
    );
    for l in out.lines().filter(|l| {
        ["libxen", "vchan", "qrexec", "qubesdb"]
            .iter()
            .any(|n| l.contains(n))
            && l.contains("=>")
    }) {
        assert!(
            l.contains("=> /opt/qubes-xen/"),
            "not the bundle's: {l}\n{out}"
        );
    }
    assert!(
        out.contains("Usage: /opt/qubes-xen/current/bin/qubesdb-read"),
        "{out}"
    );
    assert!(out.contains("qubesdb-read ran"), "{out}");
}
