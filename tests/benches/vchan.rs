//! vchan throughput, ours against the C `vchan-node1` of the same Xen tree, in one boot of
//! Qubes' build (run by scripts/bench-vchan.sh; a benchmark, never a test). dom0 writes the
//! same 16 MiB through a server with the smallest rings, first with `vchan-node1 server
//! write`, then with `xen_toolstack::vchan`; the template domU reads each into `wc -c`, with
//! `vchan-node1 client read` and with `e2e-vchan --copy-out` (both over the guest bundle's
//! libxenvchan), and times it; three rounds each, alternated. Prints every round, the medians
//! and ours / C.

#[path = "../tests/common/mod.rs"]
mod common;

use qxk_tests::{e2e, vm};

fn field<'a>(line: &'a str, key: &str) -> Result<&'a str, String> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .ok_or_else(|| format!("no {key}= in {line:?}"))
}

fn number(line: &str, key: &str) -> Result<f64, String> {
    let v = field(line, key)?;
    v.parse()
        .map_err(|_| format!("{key}={v:?} in {line:?}: expected a number"))
}

fn run() -> Result<(), String> {
    let mut cfg = common::qubes_config(true)?;
    // Six rounds of 16 MiB on top of the checks: under a loaded host a round can take a minute.
    cfg.timeout = std::time::Duration::from_secs(1200);
    let run = e2e::run(&cfg).map_err(|e| format!("e2e harness: {e}"))?;
    eprintln!("qxk e2e: {}", run.summary());
    let log = std::fs::read(&run.outcome.log)
        .map_err(|e| format!("{}: {e}", run.outcome.log.display()))?;
    let log = String::from_utf8_lossy(&log);
    let line = log
        .lines()
        .find(|l| l.contains(vm::BENCH_MARKER))
        .ok_or_else(|| {
            run.with_log_tail(&format!(
                "no {} line on the serial console",
                vm::BENCH_MARKER
            ))
        })?;
    if let Ok(e) = field(line, "error") {
        return Err(format!("the benchmark failed in the VM: {e} ({line})"));
    }
    let (mut c, mut ours) = (Vec::new(), Vec::new());
    for round in vm::BENCH_ROUNDS {
        let bytes = number(line, &format!("{round}_bytes"))?;
        let secs =
            number(line, &format!("{round}_end"))? - number(line, &format!("{round}_start"))?;
        if bytes as usize != vchan_bytes() || secs <= 0.0 {
            return Err(format!(
                "round {round}: the guest read {bytes} bytes in {secs:.2} s, expected {} bytes in a positive time ({line})",
                vchan_bytes()
            ));
        }
        let rate = bytes / (1 << 20) as f64 / secs;
        let what = if round.starts_with('c') {
            "C vchan-node1"
        } else {
            "ours"
        };
        println!(
            "round {round} ({what}): {} MiB dom0 -> domU in {secs:.2} s = {rate:.2} MiB/s",
            vchan_bytes() >> 20
        );
        if round.starts_with('c') {
            c.push(rate)
        } else {
            ours.push(rate)
        }
    }
    let (c, ours) = (median(c), median(ours));
    println!("median: C vchan-node1 {c:.2} MiB/s, ours (xen_toolstack::vchan) {ours:.2} MiB/s");
    println!("ratio ours / C: {:.2}x (goal: at least 0.9x)", ours / c);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn vchan_bytes() -> usize {
    qxk_tests::inside::vchan::STREAM_BYTES
}

/// `--smoke` (CI): checks that the benchmark builds and that what one boot gets can be put
/// together (the full and vm builds, the guest bundle, Qubes' config completed, the C
/// `vchan-node1`), without booting. It never builds Xen: without both builds in the cache
/// (`cargo test -p qxk-tests --test e2e` makes them) it says so and stops there.
fn smoke() -> Result<(), String> {
    use package_defs::build::{self, Mode};
    use qxk_tests::xen_build;
    let r = xen_build::real_inputs()?;
    let (xen, data) = r.packages();
    for (mode, suffix) in [(Mode::Full, ""), (Mode::Vm, "-vm")] {
        let out = qxk_tests::workspace_root()
            .join("target/qxk-cache/qubes-xen")
            .join(format!("{}-{}{suffix}", xen.name, xen.version));
        let mut opts = xen_build::options(mode);
        opts.replace = true;
        let key =
            build::key(&xen_build::inputs(&r, &xen, &data), &opts).map_err(|e| e.to_string())?;
        if !build::read_manifest(&out).is_ok_and(|m| m.key == key) {
            println!(
                "smoke: no cached {mode:?} build at {}: the boot's inputs were not assembled (a smoke run builds no Xen)",
                out.display()
            );
            return Ok(());
        }
    }
    let cfg = common::qubes_config(true)?;
    let node1 = cfg
        .bench_vchan_node1
        .as_deref()
        .ok_or("no vchan-node1 in the bench configuration")?;
    println!(
        "smoke: one boot's inputs are ready (full build, guest bundle {}, C {}); the boot itself is the e2e test's",
        cfg.bundle
            .as_ref()
            .map_or("none".into(), |b| b.tarball.display().to_string()),
        node1.display()
    );
    Ok(())
}

fn main() {
    let smoke_run = std::env::args().any(|a| a == "--smoke")
        || std::env::var("QXK_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    if smoke_run {
        if let Err(e) = smoke() {
            eprintln!("bench-vchan --smoke: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run() {
        eprintln!("bench-vchan: {e}");
        std::process::exit(1);
    }
}
