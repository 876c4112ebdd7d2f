//! On a machine without Xen every handle open fails with the errno the library
//! sets, and the quiet logger keeps the libraries from printing anything.
//!
//! One test in this file on purpose: it redirects the process's stdout/stderr
//! while it runs, and the harness must not be printing from another test then.

mod common;
use common::capture_terminal;

use std::path::Path;

use xen_toolstack::{XenCtrl, XenEvtchn, XenGnttab, XenLight, XenStore};

#[test]
fn every_open_fails_cleanly_without_a_hypervisor() {
    assert!(
        !Path::new("/dev/xen/privcmd").exists() && !Path::new("/proc/xen/privcmd").exists(),
        "this test needs a machine without Xen (no privcmd device)"
    );
    // xs_open would otherwise find a xenstored socket if one happened to run here.
    let dir = tempfile::tempdir().expect("temp dir");
    std::env::set_var("XENSTORED_PATH", dir.path().join("no-such-socket"));

    // Control: libxenctrl with no logger of ours prints to stderr, and the capture sees it.
    let (_, noisy) = capture_terminal(|| unsafe {
        let xch =
            xen_toolstack::sys::xc_interface_open(std::ptr::null_mut(), std::ptr::null_mut(), 0);
        assert!(xch.is_null());
    });
    assert!(
        noisy.contains("privileged command interface"),
        "control capture saw {noisy:?}"
    );

    let (errors, printed) = capture_terminal(|| {
        vec![
            XenCtrl::open().err(),
            XenStore::open().err(),
            XenGnttab::open().err(),
            XenEvtchn::open().err(),
            XenLight::open().err(),
        ]
    });
    assert_eq!(printed, "", "the libraries printed to the terminal");

    let calls = [
        "xc_interface_open",
        "xs_open",
        "xengnttab_open",
        "xenevtchn_open",
        "libxl_ctx_alloc",
    ];
    for (error, call) in errors.into_iter().zip(calls) {
        let error = error.unwrap_or_else(|| panic!("{call} succeeded without a hypervisor"));
        assert_eq!(error.call, call);
        // The device nodes (/dev/xen/privcmd, gntdev, evtchn, xenbus) and the socket are absent.
        assert_eq!(error.errno(), Some(libc::ENOENT), "{call}: {error}");
    }

    // What the libraries would have printed is kept instead.
    let xc = XenCtrl::open().err().expect("still no hypervisor");
    assert!(
        xc.log
            .iter()
            .any(|m| m.text.contains("privileged command interface")),
        "log: {:?}",
        xc.log
    );
    let xl = XenLight::open().err().expect("still no hypervisor");
    assert!(xl.to_string().contains("libxl_ctx_alloc failed"), "{xl}");
}
