//! Prints what the bindings were built from and what the running system offers:
//! on dom0 the hypervisor's version, physinfo and domains; elsewhere why not.
//!
//!     cargo run -p xen-toolstack --example xen-info --features xenlight

use xen_toolstack::{XenCtrl, XenEvtchn, XenGnttab, XenStore};

fn main() {
    let (major, minor, patch) = xen_toolstack::sys::XEN_VERSION;
    println!(
        "bindings: Xen {major}.{minor}.{patch} headers from {}",
        xen_toolstack::sys::XEN_ORIGIN
    );
    let mut failures = 0;
    match XenCtrl::open() {
        Ok(xc) => {
            match xc.version() {
                Ok((ma, mi, extra)) => println!("hypervisor: Xen {ma}.{mi}{extra}"),
                Err(e) => println!("xc_version: {e}"),
            }
            match xc.physinfo() {
                Ok(p) => println!(
                    "physinfo: {} cpus, {} nodes, {} MiB total, {} MiB free",
                    p.nr_cpus,
                    p.nr_nodes,
                    p.total_pages * 4 / 1024,
                    p.free_pages * 4 / 1024
                ),
                Err(e) => println!("xc_physinfo: {e}"),
            }
            match xc.domains() {
                Ok(ds) => {
                    for d in ds {
                        println!(
                            "domain {}: {} pages, {} vcpus",
                            d.domid,
                            d.tot_pages,
                            d.max_vcpu_id + 1
                        )
                    }
                }
                Err(e) => println!("xc_domain_getinfolist: {e}"),
            }
        }
        Err(e) => {
            failures += 1;
            println!("libxenctrl: {e}")
        }
    }
    match XenStore::open() {
        Ok(xs) => match xs.read("domid") {
            Ok(v) => println!(
                "xenstore: domid = {:?}",
                v.map(|b| String::from_utf8_lossy(&b).into_owned())
            ),
            Err(e) => println!("xenstore read domid: {e}"),
        },
        Err(e) => {
            failures += 1;
            println!("libxenstore: {e}")
        }
    }
    if let Err(e) = XenGnttab::open() {
        failures += 1;
        println!("libxengnttab: {e}");
    }
    if let Err(e) = XenEvtchn::open() {
        failures += 1;
        println!("libxenevtchn: {e}");
    }
    #[cfg(feature = "xenlight")]
    match xen_toolstack::XenLight::open() {
        Ok(xl) => match xl.list_domains() {
            Ok(ds) => println!("libxl: {} domains", ds.len()),
            Err(e) => println!("libxl_list_domain: {e}"),
        },
        Err(e) => {
            failures += 1;
            println!("libxl: {e}")
        }
    }
    if failures > 0 {
        println!("({failures} handles unavailable: not running on a Xen host, or not as root)");
    }
}
