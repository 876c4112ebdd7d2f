//! End-to-end against Debian's real Xen 4.17 hypervisor under QEMU: one boot,
//! shared by every test here; each test asserts one check the VM reported.
//! No QEMU, no Xen packages, no network for the first staging: the tests fail,
//! saying what is missing and how to get it (scripts/setup-debian.sh).

use qxk_tests::e2e::{self, E2eConfig, Program, Run};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

fn program(name: &str, path: &str) -> Program {
    Program {
        name: name.to_string(),
        path: PathBuf::from(path),
    }
}

fn boot() -> &'static Run {
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let dom0 = env!("CARGO_BIN_EXE_e2e-dom0");
        let cfg = E2eConfig {
            cache: e2e::default_cache(std::path::Path::new(dom0)),
            dom0_programs: vec![
                program("e2e-dom0", dom0),
                program("xs", env!("CARGO_BIN_EXE_e2e-xs")),
            ],
            domu_programs: vec![
                program("e2e-domu", env!("CARGO_BIN_EXE_e2e-domu")),
                program("xs", env!("CARGO_BIN_EXE_e2e-xs")),
            ],
            image_programs: vec![program("xs", env!("CARGO_BIN_EXE_e2e-xs"))],
            // Generous: software emulation on a shared 2-core machine.
            timeout: Duration::from_secs(600),
        };
        let run = e2e::run(&cfg).map_err(|e| format!("e2e harness: {e}"))?;
        eprintln!("qxk e2e: {}", run.summary());
        Ok(run)
    });
    match run {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    }
}

fn check(name: &str) {
    match boot().check(name) {
        Ok(r) => eprintln!("{name}: ok in {} ms: {}", r.ms, r.detail),
        Err(why) => panic!("{why}"),
    }
}

macro_rules! checks {
    ($($test:ident => $name:literal,)*) => {
        $(#[test] fn $test() { check($name) })*

        /// Every result the VM reported has a test here (and vice versa, via the tests above).
        #[test]
        fn every_reported_check_is_known() {
            let known = [$($name),*];
            let run = boot();
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

checks! {
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
    oxenstored_switch => "oxenstored/switch",
    oxenstored_libxenstore_rw => "oxenstored/libxenstore-rw",
    oxenstored_client_rw => "oxenstored/client-rw",
    oxenstored_xs_cli => "oxenstored/xs-cli",
    oxenstored_load => "oxenstored/load",
}
