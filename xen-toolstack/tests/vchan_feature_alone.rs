//! A program that wants only vchan (as a guest's qrexec-like tool does) builds with
//! `default-features = false, features = ["xenvchan"]`, links against the system's
//! libxenvchan and reports a missing hypervisor through the safe API. (Those headers have no
//! `static inline` functions, so bindgen writes no wrapper file: the build must not need one.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xen-toolstack is inside the workspace")
        .to_path_buf()
}

#[test]
fn a_vchan_only_program_builds_links_and_runs() {
    assert!(
        !Path::new("/dev/xen").exists(),
        "this test needs a machine without Xen (no /dev/xen)"
    );
    let root = workspace_root();
    let work = tempfile::tempdir().expect("temp dir");
    let consumer = work.path().join("consumer");
    std::fs::create_dir_all(consumer.join("src")).expect("mkdir");
    std::fs::write(
        consumer.join("Cargo.toml"),
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [dependencies]\nxen-toolstack = {{ path = {:?}, default-features = false, features = [\"xenvchan\"] }}\n",
            root.join("xen-toolstack")
        ),
    )
    .expect("write manifest");
    std::fs::write(
        consumer.join("src/main.rs"),
        "fn main() {\n    match xen_toolstack::vchan::Vchan::client(0, \"data/vchan/test\") {\n        \
         Ok(_) => println!(\"connected\"),\n        Err(e) => println!(\"{e}\"),\n    }\n}\n",
    )
    .expect("write main.rs");
    std::fs::copy(root.join("Cargo.lock"), consumer.join("Cargo.lock")).expect("copy Cargo.lock");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline"])
        .current_dir(&consumer)
        // Shares the build-dependency builds with xen-sys's consumer tests.
        .env(
            "CARGO_TARGET_DIR",
            root.join("target/xen-sys-prepared-tree"),
        )
        .env("XENSTORED_PATH", work.path().join("no-such-socket"))
        .env_remove("XEN_SYS_SOURCE")
        .env_remove("XEN_SYS_INCLUDE_DIR")
        .env_remove("XEN_SYS_LIB_DIR")
        .env_remove("XEN_SYS_XEN_VERSION")
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout.trim_end(),
        "libxenvchan_client_init(domain 0, \"data/vchan/test\") failed: No such file or directory \
         (os error 2); /dev/xen/gntdev, /dev/xen/evtchn missing: run this in a Xen domain with \
         the xen-gntalloc, xen-gntdev and xen-evtchn drivers loaded",
        "{stderr}"
    );
}
