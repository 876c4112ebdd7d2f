//! The boots' configurations, shared by the e2e tests and the vchan benchmark (both know
//! the workspace's binaries through `CARGO_BIN_EXE_*`).

use qxk_tests::e2e::{self, E2eConfig, Expected, GuestBundle, Program, XenSource};
use qxk_tests::xen_build;
use std::path::PathBuf;
use std::time::Duration;

pub fn program(name: &str, path: &str) -> Program {
    Program {
        name: name.to_string(),
        path: PathBuf::from(path),
    }
}

/// With a guest bundle, the template carries it and the vchan client instead of our `xs`.
pub fn config(
    xen: XenSource,
    expected: Option<Expected>,
    bundle: Option<GuestBundle>,
) -> E2eConfig {
    let dom0 = env!("CARGO_BIN_EXE_e2e-dom0");
    let image_programs = match bundle {
        Some(_) => vec![program("e2e-vchan", env!("CARGO_BIN_EXE_e2e-vchan"))],
        None => vec![program("xs", env!("CARGO_BIN_EXE_e2e-xs"))],
    };
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
        image_programs,
        // Generous: software emulation on a shared 2-core machine.
        timeout: Duration::from_secs(600),
        xen,
        expected,
        bundle,
        bench_vchan_node1: None,
    }
}

/// Qubes' build (from the build cache when its inputs are unchanged) and what it must show.
/// With `bench_vchan`, dom0 and the template also get the C `vchan-node1` of the built tree
/// (scripts/bench-vchan.sh).
pub fn qubes_config(bench_vchan: bool) -> Result<E2eConfig, String> {
    let (out, m) = xen_build::shared_full_build()?;
    let dom0 = env!("CARGO_BIN_EXE_e2e-dom0");
    let bundle = xen_build::guest_bundle(
        std::path::Path::new(env!("CARGO_BIN_EXE_e2e-xs")),
        &e2e::default_cache(std::path::Path::new(dom0)).join("bundle"),
    )?;
    let real = xen_build::real_inputs()?;
    let qubes = std::fs::read(real.qubes_dir.join("config")).map_err(|e| e.to_string())?;
    let expected = Expected {
        config: xen_build::olddefconfig(&out.join("tree/xen"), &qubes)?,
        version: m.version.split('-').next().unwrap_or_default().to_string(),
        build_user: m.environment.xen_whoami.clone(),
    };
    let node1 = out.join("tree/tools/vchan/vchan-node1");
    if bench_vchan && !node1.is_file() {
        return Err(format!(
            "{}: missing; expected the C vchan test tool of the full build's tree",
            node1.display()
        ));
    }
    let mut cfg = config(
        XenSource::Built {
            out,
            version: m.version.clone(),
        },
        Some(expected),
        Some(bundle),
    );
    cfg.bench_vchan_node1 = bench_vchan.then_some(node1);
    Ok(cfg)
}
