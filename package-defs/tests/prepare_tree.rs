//! `prepare` applies the pinned series in spec order with real `patch`, installs the config,
//! and refuses data that does not match the pins.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use package_defs::defs::txn;
use package_defs::sources::prepare;
use package_defs::{load_dir, update, QubesVersion};

#[test]
fn prepare_applies_the_series_in_spec_order() {
    let (tmp, dir) = baseline_copy();
    let root = tmp.path().join("trees");
    let spec = QubesSpec {
        version: "4.17.5",
        rel: "1",
        series: chain(&[
            (1000, "qubes", "from-1000"),
            (201, "efi", "from-0201"),
            (502, "xsa", "from-0502"),
        ]),
        dead: vec![("0600-dead.patch".into(), "not a patch at all".into())],
        config: "CONFIG_PV=y\n# CONFIG_PV32 is not set\n".into(),
        configure: "--disable-stubdom",
    };
    write_qubes_tree(&root.join("q"), &spec);
    write_upstream_tree(&root.join("up"), "4.17.5", "0x00040e00");
    let fetched = update::Fetched {
        qubes_dir: root.join("q"),
        qubes_commit: "1".repeat(40),
        old_qubes_dir: None,
        upstream_dir: root.join("up"),
        upstream_commit: Some("2".repeat(40)),
        tarball_sha256: None,
    };
    let defs = load_dir(&dir).unwrap();
    let t = update::resolve(
        &defs,
        "xen",
        QubesVersion::parse("4.17.5-1").unwrap(),
        Default::default(),
    )
    .unwrap();
    let plan = update::plan(&defs, &t, &fetched).unwrap();
    txn::commit(&dir, &plan.changes).unwrap();
    let defs = load_dir(&dir).unwrap();
    let xen = defs.get("xen").unwrap();
    let data = defs.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();

    let vendor = tmp.path().join("vendor");
    // This tree only exercises the series: header generation refuses it, names the step's
    // problem, and leaves nothing behind.
    let e = prepare::prepare(
        xen,
        data,
        &fetched.qubes_dir,
        &fetched.upstream_dir,
        &vendor,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("generating the headers xen-sys needs failed")
            && e.contains("is not a Xen source tree (no xen/Makefile or tools/libs/light)"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(&vendor).unwrap().count(), 0);
    let prepare_series = |vendor: &std::path::Path| {
        prepare::prepare_with(
            xen,
            data,
            &fetched.qubes_dir,
            &fetched.upstream_dir,
            vendor,
            prepare::Headers::Skip,
        )
    };
    let out = prepare_series(&vendor).unwrap();
    assert_eq!(out, vendor.join("xen-4.17.5-1"));
    // The chain only applies in spec order.
    assert_eq!(
        std::fs::read_to_string(out.join("base")).unwrap(),
        "base\nfrom-1000\nfrom-0201\nfrom-0502\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("xen/.config")).unwrap(),
        spec.config
    );
    assert_eq!(
        std::fs::read_link(out.join("COPYING.link")).unwrap(),
        std::path::Path::new("README")
    );
    let e = prepare_series(&vendor).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("already exists; remove it to prepare again"),
        "{e}"
    );

    // Tampered data is refused before anything is written.
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(
        fetched.qubes_dir.join("0201-efi.patch"),
        chain_patch("efi", "base", 2, "from-1000", "evil"),
    )
    .unwrap();
    let e = prepare_series(&vendor).unwrap_err().to_string();
    assert!(
        e.contains("0201-efi.patch: sha256 is") && e.contains("but the definition pins"),
        "{e}"
    );
    assert!(!out.exists());

    // A patch that does not apply names itself and leaves no tree.
    std::fs::write(
        fetched.qubes_dir.join("0201-efi.patch"),
        chain_patch("efi", "base", 2, "from-1000", "from-0201"),
    )
    .unwrap();
    std::fs::write(fetched.upstream_dir.join("base"), "changed\n").unwrap();
    let e = prepare_series(&vendor).unwrap_err().to_string();
    assert!(
        e.starts_with("patch 1000 1000-qubes.patch does not apply with `patch -p1 --fuzz=0`"),
        "{e}"
    );
    // With the hunk `patch` rejected, as its .rej file holds it.
    assert!(
        e.contains("rejected hunk(s):\n--- ") && e.contains("\n@@ "),
        "{e}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(&vendor).unwrap().count(), 0);
}

#[test]
fn a_failing_header_step_is_named_with_the_tail_of_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir_all(t.join("xen")).unwrap();
    std::fs::create_dir_all(t.join("tools/libs/light")).unwrap();
    std::fs::write(t.join("xen/Makefile"), "all:\n").unwrap();
    for f in ["config.guess", "config.sub"] {
        std::fs::write(t.join(f), "#!/bin/sh\n").unwrap();
    }
    std::fs::write(
        t.join("configure"),
        "#!/bin/sh\necho checking for a C compiler\necho 'configure: error: no acceptable C compiler found' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(t.join("configure"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = prepare::generate_headers(t).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: generating the headers xen-sys needs failed",
            t.display()
        )),
        "{e}"
    );
    assert!(
        e.contains("  configure: error: no acceptable C compiler found")
            && e.contains("  error: './configure --disable-stubdom"),
        "{e}"
    );
}
