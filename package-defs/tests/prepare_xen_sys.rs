//! The whole path issue 3 promises, end to end: an "upstream Xen" repository made from Debian's
//! real Xen source and tagged `RELEASE-4.17.5` with a signed tag, a "Qubes data" repository whose
//! `xen.spec.in` series holds a patch adding a field to a libxl IDL type and a function to
//! `xenctrl.h`, both served by `git http-backend` on loopback; then `package-defs update` and
//! `package-defs prepare`, and a crate using both new items builds against the prepared tree
//! with `XEN_SYS_SOURCE` — and, as a control, fails against the system headers.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::Path;
use std::process::Command;

use test_servers::git::GitServer;
use test_servers::{GpgKey, HttpServer};

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";

fn checked(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).trim().to_string()
}

/// Inserts `addition` after the line containing `anchor`.
fn insert_after(text: &str, anchor: &str, addition: &str) -> String {
    let at = text
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor:?} not found"));
    let eol = at + text[at..].find('\n').unwrap() + 1;
    format!("{}{addition}{}", &text[..eol], &text[eol..])
}

/// A `diff -u` of one file, as patch series hold.
fn diff(tree: &Path, rel: &str, new_text: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    for (side, text) in [
        ("a", std::fs::read_to_string(tree.join(rel)).unwrap()),
        ("b", new_text.to_string()),
    ] {
        let p = scratch.path().join(side).join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let o = Command::new("diff")
        .args(["-u", &format!("a/{rel}"), &format!("b/{rel}")])
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "no change in {rel}");
    stdout(&o)
}

#[test]
fn update_then_prepare_gives_a_tree_xen_sys_builds_against() {
    let root = workspace();
    let pristine = checked(&mut Command::new(root.join("scripts/debian-xen-source.sh")));
    let pristine = Path::new(&pristine);
    let tmp = tempfile::tempdir().unwrap();
    let http = HttpServer::start().unwrap();
    let git = GitServer::mount(&http).unwrap();
    let qubes_key = GpgKey::generate("Test Qubes Signer <qubes@example.org>", "ed25519").unwrap();
    let xen_key = GpgKey::generate("Test Xen Signer <xen@example.org>", "ed25519").unwrap();

    // Upstream Xen: Debian's tree without Debian's packaging, quilt state, CI files and
    // dot-files (so `git add` keeps every file), committed and tagged like xen.git.
    let xen = git.create_repo("xen").unwrap();
    for e in std::fs::read_dir(pristine).unwrap() {
        let name = e.unwrap().file_name();
        let n = name.to_string_lossy();
        if n.starts_with('.') || n == "debian" || n == "automation" {
            continue;
        }
        checked(
            Command::new("cp")
                .arg("-a")
                .arg(pristine.join(&name))
                .arg(xen.work_tree()),
        );
    }
    xen.commit_all("Xen 4.17.5").unwrap();
    xen.tag("RELEASE-4.17.5", Some(&xen_key)).unwrap();

    // Qubes data: a series with one patch in the style of Qubes' libxl/xenctrl patches.
    let idl = "tools/libs/light/libxl_types.idl";
    let header = "tools/include/xenctrl.h";
    let up = xen.work_tree();
    let mut patch = String::from(
        "From: Test <test@example.org>\nSubject: [PATCH] libxl: add a qubes gui test field\n\n",
    );
    patch += &diff(
        up,
        idl,
        &insert_after(
            &std::fs::read_to_string(up.join(idl)).unwrap(),
            "(\"kind\",    libxl_vga_interface_type),",
            "    (\"qubes_gui_test_domid\", uint32),\n",
        ),
    );
    patch += &diff(
        up,
        header,
        &insert_after(
            &std::fs::read_to_string(up.join(header)).unwrap(),
            "int xc_interface_close(xc_interface *xch);",
            "\nint xc_qubes_test_set_gui_domid(xc_interface *xch, uint32_t domid, uint32_t gui_domid);\n",
        ),
    );
    let qubes = git.create_repo("qubes-vmm-xen").unwrap();
    write_qubes_tree(
        qubes.work_tree(),
        &QubesSpec {
            version: "4.17.5",
            rel: "1",
            series: vec![(1012, "1012-libxl-test-gui-field.patch".into(), patch)],
            dead: vec![],
            config: std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config"))
                .unwrap(),
            configure: "--disable-stubdom",
        },
    );
    qubes.commit_all("v4.17.5-1").unwrap();
    qubes.tag("v4.17.5-1", Some(&qubes_key)).unwrap();

    // Definitions pinned to the test keys.
    let dir = tmp.path().join("definitions");
    definitions_for_test_keys(&dir, &qubes_key, &xen_key);
    let pd = |args: &[&str]| {
        let mut c = bin();
        c.arg("--definitions")
            .arg(&dir)
            .arg("--cache")
            .arg(tmp.path().join("cache"))
            .args(["--url-rewrite", &format!("{XEN_URL}={}", git.url("xen"))])
            .args([
                "--url-rewrite",
                &format!("{QUBES_URL}={}", git.url("qubes-vmm-xen")),
            ])
            .args(args);
        c
    };
    checked(&mut pd(&[
        "update",
        "xen",
        "4.17.5-1",
        "--skip-tarball",
        "--quiet",
    ]));
    let vendor = tmp.path().join("vendor");
    let out = checked(&mut pd(&[
        "prepare",
        "xen",
        "--vendor",
        vendor.to_str().unwrap(),
    ]));
    let tree = vendor.join("xen-4.17.5-1");
    assert_eq!(out, tree.display().to_string());
    assert!(
        std::fs::read_to_string(tree.join("tools/libs/light/_libxl_types.h"))
            .unwrap()
            .contains("qubes_gui_test_domid")
    );
    assert!(tree.join("xen/.config").is_file());

    // A consumer crate using both new items.
    let consumer = tmp.path().join("consumer");
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
         let info = xen_sys::libxl_vga_interface_info { kind: 0, qubes_gui_test_domid: 7 };\n\
         let f: unsafe extern \"C\" fn(*mut xen_sys::xc_interface, u32, u32) -> i32 = xen_sys::xc_qubes_test_set_gui_domid;\n\
         println!(\"{} {:p}\", info.qubes_gui_test_domid, f as *const ());\n}\n",
    )
    .unwrap();
    // The workspace's dependency versions, offline; the target dir is shared with xen-sys's
    // own prepared-tree test so the build tools compile once.
    std::fs::copy(root.join("Cargo.lock"), consumer.join("Cargo.lock")).unwrap();
    let check = |source: Option<&Path>| {
        let mut c = Command::new(env!("CARGO"));
        c.args(["check", "--quiet", "--offline"])
            .current_dir(&consumer)
            .env(
                "CARGO_TARGET_DIR",
                root.join("target/xen-sys-prepared-tree"),
            )
            .env_remove("XEN_SYS_INCLUDE_DIR")
            .env_remove("XEN_SYS_LIB_DIR");
        match source {
            Some(t) => c.env("XEN_SYS_SOURCE", t),
            None => c.env_remove("XEN_SYS_SOURCE"),
        };
        c.output().unwrap()
    };
    let patched = check(Some(&tree));
    assert!(
        patched.status.success(),
        "consumer failed against the prepared tree:\n{}",
        stderr(&patched)
    );
    let system = check(None);
    let err = stderr(&system);
    assert!(
        !system.status.success(),
        "consumer built against the system headers, which lack the new items"
    );
    assert!(
        err.contains("qubes_gui_test_domid") && err.contains("xc_qubes_test_set_gui_domid"),
        "unexpected failure against the system headers:\n{err}"
    );
}
