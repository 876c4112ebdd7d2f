//! pkg-config discovery asks for a supported Xen (like libgit2-sys's version range): a
//! system whose libxenctrl is outside the range fails the build with one message that
//! names both versions and the way out, instead of bindings to an interface we never saw.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xen-sys is inside the workspace")
        .to_path_buf()
}

#[test]
fn a_system_xen_outside_the_supported_range_is_refused_by_name() {
    let root = workspace_root();
    let work = tempfile::tempdir().expect("temp dir");
    // A xencontrol.pc found before the system's, as an old Xen install would provide.
    let pc = work.path().join("pkgconfig");
    std::fs::create_dir_all(&pc).expect("mkdir");
    std::fs::write(
        pc.join("xencontrol.pc"),
        "prefix=/usr\nincludedir=${prefix}/include\nlibdir=${prefix}/lib\n\n\
         Name: Xencontrol\nDescription: The Xencontrol library for Xen hypervisor\n\
         Version: 4.12.0\nCflags: -I${includedir}\nLibs: -L${libdir} -lxenctrl\n",
    )
    .expect("write .pc");
    let consumer = work.path().join("consumer");
    std::fs::create_dir_all(consumer.join("src")).expect("mkdir");
    std::fs::write(
        consumer.join("Cargo.toml"),
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
             [dependencies]\nxen-sys = {{ path = {:?} }}\n",
            root.join("xen-sys")
        ),
    )
    .expect("write manifest");
    std::fs::write(consumer.join("src/main.rs"), "fn main() {}\n").expect("write main.rs");
    std::fs::copy(root.join("Cargo.lock"), consumer.join("Cargo.lock")).expect("copy Cargo.lock");
    let system = std::env::var("PKG_CONFIG_PATH").unwrap_or_default();
    let out = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--offline"])
        .current_dir(&consumer)
        // Shares the build-dependency builds with the prepared-tree test.
        .env(
            "CARGO_TARGET_DIR",
            root.join("target/xen-sys-prepared-tree"),
        )
        .env("PKG_CONFIG_PATH", format!("{}:{system}", pc.display()))
        .env_remove("XEN_SYS_SOURCE")
        .env_remove("XEN_SYS_INCLUDE_DIR")
        .env_remove("XEN_SYS_LIB_DIR")
        .env_remove("XEN_SYS_XEN_VERSION")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built against Xen 4.12:\n{stderr}");
    assert!(
        stderr.contains("error: xen-sys: ")
            && stderr.contains("xencontrol")
            && stderr.contains("4.12.0")
            && stderr.contains("these bindings support Xen 4.13 to 4.31 (exclusive)")
            && stderr.contains("XEN_SYS_SOURCE"),
        "{stderr}"
    );
}
