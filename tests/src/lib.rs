//! qxk-tests: the end-to-end harness that boots Debian's real Xen 4.17 hypervisor
//! with a PV Linux dom0 (and a PV domU) under QEMU software emulation, runs the
//! workspace's programs there and brings per-check results back to the host.
//!
//! [`report`] is the wire format shared by the host harness and the programs that
//! run inside the VM (`e2e-dom0`, `e2e-domu`); [`e2e`] is the host side.

pub mod e2e;
pub mod inside;
pub mod report;
pub mod vm;
pub mod xen_build;

/// The workspace's root folder (this crate is `tests/` in it).
pub fn workspace_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}
