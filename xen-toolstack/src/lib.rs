//! Safe handles to the Xen toolstack libraries, over the raw bindings of [`xen_sys`] (the
//! rust-vmm split: `kvm-bindings` raw, `kvm-ioctls` safe). Each handle opens with its own
//! [`logger::QuietLogger`], so the C libraries print nothing to the terminal and a failure
//! carries the errno and what the library logged; handles close on drop.
//!
//! ```no_run
//! match xen_toolstack::XenCtrl::open() {
//!     Ok(xc) => println!("{:?}", xc.version()),
//!     Err(e) => eprintln!("{e}"), // e.g. xc_interface_open failed: No such file or directory
//! }
//! ```
//!
//! Features select libraries as in xen-sys (`xenctrl`, `xenstore`, `xengnttab`,
//! `xenevtchn`, `xentoollog` by default; `xenlight` for libxl, `xenvchan` for the
//! [`vchan`] server and client). Where headers and libraries
//! come from is xen-sys's business: see its crate documentation for `XEN_SYS_SOURCE` and the
//! other variables.

/// The raw bindings this crate wraps, for calls it does not cover.
pub use xen_sys as sys;

pub mod handles;
#[cfg(feature = "xentoollog")]
pub mod logger;
#[cfg(feature = "xenvchan")]
pub mod vchan;

pub use handles::*;
