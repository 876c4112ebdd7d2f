//! Sets the `xen_4_NN` cfgs ("headers at least 4.NN") from the version xen-sys's build
//! script found (`DEP_QUBES_XEN_KIT_XEN_VERSION`), as openssl does over openssl-sys, so the
//! handles follow API changes (`xc_domain_getinfo` is gone in 4.18).

/// The same range xen-sys declares.
const CFG_MINORS: std::ops::RangeInclusive<u32> = 13..=30;

fn main() {
    for minor in CFG_MINORS {
        println!("cargo:rustc-check-cfg=cfg(xen_4_{minor})");
    }
    let Ok(version) = std::env::var("DEP_QUBES_XEN_KIT_XEN_VERSION") else {
        eprintln!("error: xen-toolstack: xen-sys did not report the Xen version (DEP_QUBES_XEN_KIT_XEN_VERSION)");
        std::process::exit(1);
    };
    let mut parts = version.split('.').map(str::parse::<u32>);
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        eprintln!("error: xen-toolstack: xen-sys reported Xen version {version:?}, expected MAJOR.MINOR[.PATCH]");
        std::process::exit(1);
    };
    for m in CFG_MINORS {
        if major > 4 || (major == 4 && minor >= m) {
            println!("cargo:rustc-cfg=xen_4_{m}");
        }
    }
}
