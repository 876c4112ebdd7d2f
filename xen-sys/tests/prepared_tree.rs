//! xen-sys follows a prepared, patched Xen tree: patch Debian's real Xen 4.17
//! source the way Qubes' patches do (a field in a libxl IDL type, a function in
//! xenctrl.h), generate its headers, and build a crate that uses both new items
//! with XEN_SYS_SOURCE pointing there. As a control, the same crate must fail
//! against the system headers, which lack them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xen-sys is inside the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn checked(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Inserts `addition` after the first line containing `anchor`.
fn insert_after(text: &str, anchor: &str, addition: &str) -> String {
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("anchor {anchor:?} not found"));
    let eol = at + text[at..].find('\n').expect("anchor line ends") + 1;
    format!("{}{}{}", &text[..eol], addition, &text[eol..])
}

/// Writes a unified diff (made with diff -u, as a patch series holds) for one file change.
fn make_patch(tree: &Path, rel: &str, new_text: &str, out: &mut String) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let (a, b) = (
        scratch.path().join("a").join(rel),
        scratch.path().join("b").join(rel),
    );
    for (p, text) in [
        (
            &a,
            std::fs::read_to_string(tree.join(rel)).expect("read original"),
        ),
        (&b, new_text.to_string()),
    ] {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let diff = run(Command::new("diff")
        .arg("-u")
        .arg(format!("a/{rel}"))
        .arg(format!("b/{rel}"))
        .current_dir(scratch.path()));
    assert_eq!(diff.status.code(), Some(1), "diff found no change in {rel}");
    out.push_str(&String::from_utf8(diff.stdout).expect("utf-8 diff"));
}

#[test]
fn bindings_carry_a_patched_trees_new_interfaces() {
    let root = workspace_root();
    let pristine = checked(&mut Command::new(root.join("scripts/debian-xen-source.sh")));
    let work = tempfile::tempdir().expect("temp dir");
    let tree = work.path().join("xen");
    checked(Command::new("cp").arg("-a").arg(&pristine).arg(&tree));

    // A patch in the style of Qubes' libxl/xenctrl patches.
    let idl = "tools/libs/light/libxl_types.idl";
    let header = "tools/include/xenctrl.h";
    let mut patch = String::new();
    let idl_text = std::fs::read_to_string(tree.join(idl)).expect("read idl");
    make_patch(
        &tree,
        idl,
        &insert_after(
            &idl_text,
            "(\"kind\",    libxl_vga_interface_type),",
            "    (\"qubes_gui_test_domid\", uint32),\n",
        ),
        &mut patch,
    );
    let h_text = std::fs::read_to_string(tree.join(header)).expect("read xenctrl.h");
    make_patch(
        &tree,
        header,
        &insert_after(
            &h_text,
            "int xc_interface_close(xc_interface *xch);",
            "\n/* Added by a test patch, as Qubes' patches add interfaces. */\nint xc_qubes_test_set_gui_domid(xc_interface *xch, uint32_t domid, uint32_t gui_domid);\n",
        ),
        &mut patch,
    );
    let patch_file = work.path().join("9999-test-qubes-gui-interfaces.patch");
    std::fs::write(&patch_file, &patch).expect("write patch");
    checked(
        Command::new("patch")
            .arg("-p1")
            .arg("-i")
            .arg(&patch_file)
            .current_dir(&tree),
    );
    checked(Command::new(root.join("scripts/xen-generate-headers.sh")).arg(&tree));
    let generated = std::fs::read_to_string(tree.join("tools/libs/light/_libxl_types.h"))
        .expect("generated header");
    assert!(
        generated.contains("qubes_gui_test_domid"),
        "IDL change not in _libxl_types.h"
    );

    // A consumer crate that uses both new items.
    let consumer = work.path().join("consumer");
    std::fs::create_dir_all(consumer.join("src")).expect("mkdir");
    std::fs::write(
        consumer.join("Cargo.toml"),
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [dependencies]\nxen-sys = {{ path = {:?}, features = [\"xenlight\"] }}\n",
            root.join("xen-sys")
        ),
    )
    .expect("write manifest");
    std::fs::write(
        consumer.join("src/main.rs"),
        "fn main() {\n\
         let info = xen_sys::libxl_vga_interface_info { kind: 0, qubes_gui_test_domid: 7 };\n\
         let f: unsafe extern \"C\" fn(*mut xen_sys::xc_interface, u32, u32) -> i32 = xen_sys::xc_qubes_test_set_gui_domid;\n\
         println!(\"{} {:p} {}\", info.qubes_gui_test_domid, f as *const (), xen_sys::XEN_ORIGIN);\n}\n",
    )
    .expect("write main.rs");
    // Same dependency versions as the workspace, from the local registry cache.
    std::fs::copy(root.join("Cargo.lock"), consumer.join("Cargo.lock")).expect("copy Cargo.lock");
    let target = root.join("target/xen-sys-prepared-tree");

    let check = |source: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["check", "--quiet", "--offline"])
            .current_dir(&consumer)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("XEN_SYS_INCLUDE_DIR")
            .env_remove("XEN_SYS_LIB_DIR");
        match source {
            Some(tree) => cmd.env("XEN_SYS_SOURCE", tree),
            None => cmd.env_remove("XEN_SYS_SOURCE"),
        };
        run(&mut cmd)
    };
    let patched = check(Some(&tree));
    assert!(
        patched.status.success(),
        "consumer failed against the patched tree:\n{}",
        String::from_utf8_lossy(&patched.stderr)
    );
    let system = check(None);
    let stderr = String::from_utf8_lossy(&system.stderr);
    assert!(
        !system.status.success(),
        "consumer built against system headers, which lack the new items"
    );
    assert!(
        stderr.contains("qubes_gui_test_domid") && stderr.contains("xc_qubes_test_set_gui_domid"),
        "unexpected failure against system headers:\n{stderr}"
    );
}
