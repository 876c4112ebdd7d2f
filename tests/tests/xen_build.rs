//! `package-defs`' build on the real thing: the shipped `xen` (Qubes' v4.17.6-6 series, 111
//! patches as rpm applies them, on Xen's RELEASE-4.17.6, fetched and verified from the real
//! repositories), Qubes' config completed by xen-config, `make xen` and `make dist-tools`; a
//! second, hypervisor-only build elsewhere gives the same `xen.gz`;
//! xen-sys builds and links against the built tree (Qubes-only interfaces included); a
//! corrupted patch fails the build naming the patch and its rejected hunk, leaving no output.

use std::path::Path;
use std::process::Command;

use package_defs::build::{Mode, BUILD_USER};
use package_defs::Body;
use qxk_tests::xen_build::{self, inputs, olddefconfig, options, real_inputs, rpm_series};

fn sha256(p: &Path) -> String {
    content_hash::hash_file(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .0
        .to_hex()
}

fn gunzip(p: &Path) -> Vec<u8> {
    let o = Command::new("zcat").arg(p).output().expect("zcat");
    assert!(o.status.success(), "zcat {}", p.display());
    o.stdout
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn full_build_is_complete_and_a_hypervisor_only_rebuild_elsewhere_is_byte_identical() {
    let (out, m) = xen_build::shared_full_build().unwrap_or_else(|e| panic!("{e}"));
    let r = real_inputs().unwrap();
    let (xen, _) = r.packages();

    // The manifest pins every input and names the toolchain; the series is rpm's own.
    assert_eq!(m.version, xen.version.to_string());
    assert_eq!(m.mode, Mode::Full);
    assert_eq!(m.inputs.patches, rpm_series(&r.qubes_tag()).unwrap());
    assert_eq!(
        m.inputs.upstream_commit,
        xen.as_xen().unwrap().upstream.commit
    );
    assert_eq!(m.environment.source_date_epoch, r.source_date_epoch);
    assert_eq!(m.environment.python, "/usr/bin/python3");
    assert!(m.toolchain["gcc"].starts_with("gcc"), "{:?}", m.toolchain);
    for f in ["xen.gz", "config"] {
        assert_eq!(m.outputs[f], sha256(&out.join(f)), "{f}");
    }
    // Xen's own conf (make's syncconfig) left xen-config's completion untouched.
    assert!(m.config_matches_olddefconfig);
    let config = std::fs::read(out.join("config")).unwrap();
    // And it is xen-config's olddefconfig of Qubes' config for the patched tree.
    let qubes_config = std::fs::read(r.qubes_dir.join("config")).unwrap();
    let expected = olddefconfig(&out.join("tree/xen"), &qubes_config).unwrap();
    assert!(
        config == expected,
        "final .config is not olddefconfig of Qubes' config"
    );
    assert!(contains(&config, "CONFIG_HYPFS_CONFIG=y"));
    assert!(
        contains(&config, "CONFIG_RETURN_THUNK=y"),
        "v4.17.6-6 adds it"
    );

    // The reproducible environment reached the hypervisor.
    let xen = gunzip(&out.join("xen.gz"));
    assert!(contains(&xen, BUILD_USER), "XEN_WHOAMI not in xen.gz");
    assert!(
        contains(&xen, &m.environment.xen_build_date),
        "build date not in xen.gz"
    );

    // The installed tools tree and the built tree for xen-sys.
    for f in [
        "install/usr/sbin/xl",
        "install/usr/sbin/xenstored",
        "install/usr/sbin/xenhypfs",
        "install/usr/lib/libxenctrl.so.4.17",
        "install/usr/lib/libxenlight.so.4.17",
        "tree/tools/include/xen/xen.h",
        "tree/tools/libs/light/_libxl_types.h",
        "tree/tools/libs/ctrl/libxenctrl.so",
        "logs/xen.log",
        "logs/tools.log",
        "logs/patch.log",
    ] {
        assert!(out.join(f).exists(), "{f} missing in {}", out.display());
    }
    let patch_log = std::fs::read_to_string(out.join("logs/patch.log")).unwrap();
    assert_eq!(patch_log.lines().count(), m.inputs.patches.len());
    assert!(
        patch_log.contains("0651 ") && patch_log.contains("0652 "),
        "PAtch0651/0652"
    );

    // A second build: hypervisor only, uncached, another folder, another process state.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(Mode::Hypervisor);
    opts.cache = None;
    let hv_out = dir.path().join("elsewhere/xen-hv");
    let hv = xen_build::build_into(r, &opts, &hv_out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hv.mode, Mode::Hypervisor);
    assert!(!hv_out.join("install").exists() && !hv_out.join("tree").exists());
    assert_eq!(
        hv.outputs["xen.gz"],
        m.outputs["xen.gz"],
        "two builds gave different xen.gz: {} vs {}",
        hv_out.display(),
        out.display()
    );
    assert_eq!(hv.outputs["config"], m.outputs["config"]);
    assert_ne!(hv.key, m.key, "the mode is part of the key");
}

#[test]
fn a_patch_that_does_not_apply_names_it_and_its_hunk_and_leaves_no_output() {
    // It corrupts a patch: a copy of its own, not the shared inputs.
    let owned = xen_build::real_inputs_to_change().unwrap();
    let r = &owned;
    let (xen, mut data) = r.packages();
    let Body::QubesData(d) = &mut data.body else {
        panic!("data package")
    };
    // Corrupt one context line of a real patch (pinned as corrupted: the pin check passes,
    // `patch --fuzz=0` must not).
    let victim = d
        .patches
        .iter_mut()
        .find(|p| p.number == 500)
        .expect("patch 0500 in the series");
    let path = r.qubes_dir.join(&victim.file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen_hunk = false;
    let mut done = false;
    let corrupted: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("@@") {
                seen_hunk = true;
            } else if seen_hunk && !done && l.starts_with(' ') && l.len() > 4 {
                done = true;
                return format!(" QXK-CORRUPTED{l}");
            }
            l.to_string()
        })
        .collect();
    assert!(done);
    std::fs::write(&path, corrupted.join("\n") + "\n").unwrap();
    victim.sha256 = sha256(&path);
    let file = victim.file.clone();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("xen-out");
    let mut opts = options(Mode::Hypervisor);
    opts.cache = None;
    let e = package_defs::build::build(&inputs(r, &xen, &data), &opts, &out)
        .expect_err("a corrupted patch must fail the build")
        .to_string();
    assert!(
        e.contains(&format!("patch 0500 {file} does not apply")),
        "{e}"
    );
    assert!(e.contains("rejected hunk"), "{e}");
    assert!(
        e.contains("QXK-CORRUPTED"),
        "the rejected hunk is shown: {e}"
    );
    assert!(e.contains("@@"), "{e}");
    // Nothing where the output should be, no work folder; the logs are kept beside it.
    assert!(!out.exists());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["xen-out.failed-logs"], "{left:?}");
    let log = std::fs::read_to_string(dir.path().join("xen-out.failed-logs/patch.log")).unwrap();
    assert!(
        log.lines().last().unwrap_or("").starts_with("0500 "),
        "{log}"
    );
}

/// xen-sys against the built tree: headers of the patched tree (Qubes' libxl IDL type
/// `libxl_qubes_gui_info`, the `xc_set_cpufreq_hwp` call of patch 0640) and the libraries
/// of its tools build, linked and loaded; against Debian's headers the same crate fails.
#[test]
fn xen_sys_builds_and_links_against_the_qubes_build() {
    let (out, _) = xen_build::shared_full_build().unwrap_or_else(|e| panic!("{e}"));
    let root = qxk_tests::workspace_root();
    let tree = out.join("tree");
    let work = tempfile::tempdir().unwrap();
    let consumer = work.path().join("consumer");
    std::fs::create_dir_all(consumer.join("src")).unwrap();
    std::fs::write(
        consumer.join("Cargo.toml"),
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [dependencies]\nxen-sys = {{ path = {:?}, features = [\"xenlight\"] }}\n",
            root.join("xen-sys")
        ),
    )
    .unwrap();
    std::fs::write(
        consumer.join("src/main.rs"),
        "fn main() {\n\
         let gui = xen_sys::libxl_qubes_gui_info::default();\n\
         let f: unsafe extern \"C\" fn(*mut xen_sys::xc_interface, i32, *const xen_sys::xc_set_hwp_para_t) -> i32 = xen_sys::xc_set_cpufreq_hwp;\n\
         println!(\"{} {} {:p} {:?}\", xen_sys::XEN_ORIGIN, std::mem::size_of_val(&gui), f as *const (), xen_sys::XEN_VERSION);\n}\n",
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), consumer.join("Cargo.lock")).unwrap();
    let target = root.join("target/xen-sys-qubes-build");
    let cargo = |sub: &str, source: Option<&Path>| {
        let mut c = Command::new(env!("CARGO"));
        c.args([sub, "--quiet", "--offline"])
            .current_dir(&consumer)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("XEN_SYS_INCLUDE_DIR")
            .env_remove("XEN_SYS_LIB_DIR");
        match source {
            Some(t) => c.env("XEN_SYS_SOURCE", t),
            None => c.env_remove("XEN_SYS_SOURCE"),
        };
        c.output().expect("cargo")
    };
    let built = cargo("build", Some(&tree));
    assert!(
        built.status.success(),
        "xen-sys against the Qubes build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // Run it on the built libraries (no hypervisor needed to load them).
    let libs: Vec<String> = [
        "toollog",
        "ctrl",
        "store",
        "gnttab",
        "evtchn",
        "light",
        "call",
        "foreignmemory",
        "devicemodel",
        "toolcore",
        "hypfs",
        "guest",
    ]
    .iter()
    .map(|l| tree.join("tools/libs").join(l).display().to_string())
    .collect();
    let run = Command::new(target.join("debug/consumer"))
        .env("LD_LIBRARY_PATH", libs.join(":"))
        .output()
        .expect("run consumer");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "consumer did not run on the built libraries:\n{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains(&format!("XEN_SYS_SOURCE={}", tree.display()))
            && stdout.contains("(4, 17, 6)"),
        "{stdout}"
    );
    // Control: Debian's headers lack Qubes' interfaces.
    let system = cargo("check", None);
    let stderr = String::from_utf8_lossy(&system.stderr);
    assert!(!system.status.success(), "built against Debian's headers");
    assert!(
        stderr.contains("libxl_qubes_gui_info") && stderr.contains("xc_set_cpufreq_hwp"),
        "{stderr}"
    );
}

/// A compile failure (a patch of ours that makes every hypervisor source fail) names the
/// step and its log, whose kept copy holds the compiler's error; no output is left.
#[test]
fn a_compile_failure_names_the_step_and_its_log() {
    // It corrupts a patch: a copy of its own, not the shared inputs.
    let owned = xen_build::real_inputs_to_change().unwrap();
    let r = &owned;
    let (xen, mut data) = r.packages();
    let Body::QubesData(d) = &mut data.body else {
        panic!("data package")
    };
    let rel = "xen/include/xen/config.h";
    let original = std::fs::read_to_string(r.upstream_dir.join(rel)).unwrap();
    // After the include guard's #ifndef (outside the leading comment), with one line of
    // context on each side (a hunk with context on one side only must sit at an end).
    let lines: Vec<&str> = original.lines().collect();
    let i = lines.iter().position(|l| l.starts_with("#ifndef")).unwrap();
    let (n, guard, next) = (i + 1, lines[i], lines[i + 1]);
    let patch = format!(
        "--- a/{rel}\n+++ b/{rel}\n@@ -{n},2 +{n},3 @@\n {guard}\n+#error qxk-injected-compile-failure\n {next}\n"
    );
    let file = "9999-qxk-inject-compile-failure.patch";
    std::fs::write(r.qubes_dir.join(file), &patch).unwrap();
    d.patches.push(package_defs::PatchPin {
        number: 9999,
        file: file.into(),
        sha256: sha256(&r.qubes_dir.join(file)),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("xen-out");
    let mut opts = options(Mode::Hypervisor);
    opts.cache = None;
    let e = package_defs::build::build(&inputs(r, &xen, &data), &opts, &out)
        .expect_err("the injected #error must fail the build")
        .to_string();
    let log = dir.path().join("xen-out.failed-logs/xen.log");
    assert!(
        e.starts_with("build step `xen` failed; full log: ")
            && e.contains(&log.display().to_string()),
        "{e}"
    );
    assert!(
        e.contains("qxk-injected-compile-failure"),
        "the log's tail: {e}"
    );
    assert!(!out.exists());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("#error qxk-injected-compile-failure"),
        "{text}"
    );
}
