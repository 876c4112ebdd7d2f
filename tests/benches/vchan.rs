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

fn main() {
    if let Err(e) = run() {
        eprintln!("bench-vchan: {e}");
        std::process::exit(1);
    }
}
