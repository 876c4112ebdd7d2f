//! End-to-end on a real Xen hypervisor under QEMU: Qubes' Xen as `package-defs build` makes
//! it from the shipped `xen` definition (hypervisor and tools), one boot shared by every test
//! of the `qubes` group; each test asserts one check the VM reported. Debian's stock Xen
//! boots a second time only for what Qubes' build leaves out: oxenstored (Qubes' definition
//! builds with --disable-ocamltools). No QEMU, no packages, no network for the first
//! staging: the tests fail, saying what is missing and how to get it (scripts/setup-debian.sh).

use qxk_tests::e2e::{self, E2eConfig, Expected, Program, Run, XenSource};
use qxk_tests::xen_build;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

fn program(name: &str, path: &str) -> Program {
    Program {
        name: name.to_string(),
        path: PathBuf::from(path),
    }
}

fn config(xen: XenSource, expected: Option<Expected>) -> E2eConfig {
    let dom0 = env!("CARGO_BIN_EXE_e2e-dom0");
    E2eConfig {
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
        xen,
        expected,
    }
}

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

/// Qubes' build (from the build cache when its inputs are unchanged) and what it must show.
fn qubes_config() -> Result<E2eConfig, String> {
    let (out, m) = xen_build::shared_full_build()?;
    let real = xen_build::real_inputs()?;
    let qubes = std::fs::read(real.qubes_dir.join("config")).map_err(|e| e.to_string())?;
    let expected = Expected {
        config: xen_build::olddefconfig(&out.join("tree/xen"), &qubes)?,
        version: m.version.split('-').next().unwrap_or_default().to_string(),
        build_user: m.environment.xen_whoami.clone(),
    };
    Ok(config(
        XenSource::Built {
            out,
            version: m.version.clone(),
        },
        Some(expected),
    ))
}

fn debian_config() -> Result<E2eConfig, String> {
    Ok(config(XenSource::Debian, None))
}

fn qubes_boot() -> &'static Run {
    static RUN: OnceLock<Result<Run, String>> = OnceLock::new();
    boot_with(&RUN, qubes_config)
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

/// Qubes' own hypervisor and tools.
mod qubes {
    use super::*;
    checks! { qubes_boot;
        dom0_control_plane => "dom0/control-plane",
        qubes_buildinfo_config => "qubes/buildinfo-config",
        qubes_builtin_cmdline => "qubes/builtin-cmdline",
        qubes_version => "qubes/version",
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
    }
}

/// Debian's stock Xen: only for oxenstored, which Qubes' build does not have.
mod debian {
    use super::*;
    checks! { debian_boot;
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
}
