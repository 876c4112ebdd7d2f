//! End-to-end on a real Xen hypervisor under QEMU: Qubes' Xen as `package-defs build` makes
//! it from the shipped `xen` definition (hypervisor and tools), one boot shared by every test
//! of the `qubes` group; each test asserts one check the VM reported. Debian's stock Xen
//! boots a second time only for what Qubes' build leaves out: oxenstored (Qubes' definition
//! builds with --disable-ocamltools). No QEMU, no packages, no network for the first
//! staging: the tests fail, saying what is missing and how to get it (scripts/setup-debian.sh).

mod common;

use common::{config, qubes_config};
use qxk_tests::e2e::{self, E2eConfig, Run, XenSource};
use std::sync::OnceLock;

fn boot_with(
    cell: &'static OnceLock<Result<Run, String>>,
    make: fn() -> Result<E2eConfig, String>,
) -> &'static Run {
    // One VM at a time: two under software emulation on 2 cores would starve each other.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let run = cell.get_or_init(|| {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let cfg = make()?;
        let run = e2e::run(&cfg).map_err(|e| format!("e2e harness: {e}"))?;
        eprintln!("qxk e2e: {}", run.summary());
        Ok(run)
    });
    match run {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    }
}

fn debian_config() -> Result<E2eConfig, String> {
    Ok(config(XenSource::Debian, None, None))
}

fn qubes_boot() -> &'static Run {
    fn make() -> Result<E2eConfig, String> {
        qubes_config(false)
    }
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    boot_with(&RUN, make)
}

fn debian_boot() -> &'static Run {
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    boot_with(&RUN, debian_config)
}

fn check_in(run: &Run, name: &str) {
    match run.check(name) {
        Ok(r) => eprintln!("{name}: ok in {} ms: {}", r.ms, r.detail),
        Err(why) => panic!("{why}"),
    }
}

macro_rules! checks {
    ($boot:ident; $($test:ident => $name:literal,)*) => {
        $(#[test] fn $test() { check_in(super::$boot(), $name) })*

        /// Every result the VM reported has a test here (and vice versa, via the tests above).
        #[test]
        fn every_reported_check_is_known() {
            let known = [$($name),*];
            let run = super::$boot();
            let unknown: Vec<&str> = run.outcome.results.iter().map(|r| r.check.as_str()).filter(|c| !known.contains(c)).collect();
            assert!(unknown.is_empty(), "checks without a test: {unknown:?}");
            assert!(run.outcome.done, "{}", run.with_log_tail("dom0 never printed the done marker"));
            assert!(run.outcome.garbled.is_empty(), "garbled result lines: {:?}", run.outcome.garbled);
            assert_eq!(
                run.outcome.exit_status,
                Some(e2e::DEBUG_EXIT_STATUS),
                "{}",
                run.with_log_tail("QEMU did not exit through dom0's isa-debug-exit")
            );
        }
    };
}

/// The checks both boots run (the control plane, xen-sys, the C xenstored, a domU, the
/// template image), then each boot's own.
macro_rules! both_boots_and {
    ($boot:ident; $($test:ident => $name:literal,)*) => {
        checks! { $boot;
            dom0_control_plane => "dom0/control-plane",
            xen_sys_version => "xen-sys/version",
            xen_sys_physinfo => "xen-sys/physinfo",
            xen_sys_domains_xenctrl => "xen-sys/domains-xenctrl",
            xen_sys_domains_xenlight => "xen-sys/domains-xenlight",
            xenstored_libxenstore_rw => "xenstored/libxenstore-rw",
            xenstored_client_rw => "xenstored/client-rw",
            xenstored_xs_cli => "xenstored/xs-cli",
            xenstored_load => "xenstored/load",
            xenstored_client_xenbus => "xenstored/client-xenbus",
            domu_create => "domu/create",
            domu_identity => "domu/identity",
            domu_home_write => "domu/home-write",
            domu_watch => "domu/watch",
            domu_client_identity => "domu/client-identity",
            domu_client_home_write => "domu/client-home-write",
            domu_client_watch => "domu/client-watch",
            domu_xs_cli => "domu/xs-cli",
            domu_xs_ls => "domu/xs-ls",
            domu_dom0_view => "domu/dom0-view",
            domu_destroy => "domu/destroy",
            image_template_domu_reads_its_name => "image/template-domu-name",
            $($test => $name,)*
        }
    };
}

/// Qubes' own hypervisor and tools.
mod qubes {
    use super::*;
    both_boots_and! { qubes_boot;
        qubes_buildinfo_config => "qubes/buildinfo-config",
        qubes_builtin_cmdline => "qubes/builtin-cmdline",
        qubes_version => "qubes/version",
        bundle_xs_reads_the_domu_name => "bundle/xs-name",
        bundle_vchan_client_loads_only_bundle_libraries => "bundle/vchan-libs",
        bundle_vchan_16_mib_dom0_to_domu => "bundle/vchan-dom0-to-domu",
        bundle_vchan_16_mib_domu_to_dom0 => "bundle/vchan-domu-to-dom0",
    }
}

/// Debian's stock Xen: only for oxenstored, which Qubes' build does not have.
mod debian {
    use super::*;
    both_boots_and! { debian_boot;
        oxenstored_switch => "oxenstored/switch",
        oxenstored_libxenstore_rw => "oxenstored/libxenstore-rw",
        oxenstored_client_rw => "oxenstored/client-rw",
        oxenstored_xs_cli => "oxenstored/xs-cli",
        oxenstored_load => "oxenstored/load",
    }
}

/// The bundle template's vchan client finds Xen's libraries only through its RUNPATH into
/// the bundle (the guest check `bundle/vchan-libs` shows what it then maps).
#[test]
fn the_vchan_client_is_linked_to_load_xen_libraries_from_the_bundle() {
    let bin = env!("CARGO_BIN_EXE_e2e-vchan");
    let out = std::process::Command::new("readelf")
        .args(["-d", bin])
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let runpaths: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .collect();
    assert_eq!(
        runpaths.len(),
        1,
        "expected one RUNPATH and no RPATH in {bin}: {runpaths:?}"
    );
    assert!(
        runpaths[0].contains("(RUNPATH)")
            && runpaths[0].ends_with(&format!("[{}]", qxk_tests::vm::BUNDLE_LIB)),
        "{bin}: {}, expected RUNPATH [{}]",
        runpaths[0],
        qxk_tests::vm::BUNDLE_LIB
    );
    let xen: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)") && l.contains("[libxen"))
        .collect();
    assert!(
        xen.len() == 1 && xen[0].contains("[libxenvchan.so."),
        "{bin} needs {xen:?}, expected only libxenvchan (the bundle has no libxenctrl)"
    );
}
