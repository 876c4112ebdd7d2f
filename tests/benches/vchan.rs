//! vchan throughput, ours against the C `vchan-node1` of the same Xen tree, in one boot of
//! Qubes' build (run by scripts/bench-vchan.sh; a benchmark, never a test). dom0 writes the
//! same 16 MiB through a server with the smallest rings, first with `vchan-node1 server
//! write`, then with `xen_toolstack::vchan`; the template domU reads each into `wc -c`, with
//! `vchan-node1 client read` and with `e2e-vchan --copy-out` (both over the guest bundle's
//! libxenvchan), and times it. Prints both figures and ours / C.

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
    let cfg = common::qubes_config(true)?;
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
    let mut rates = Vec::new();
    for (key, what) in [
        ("c", "C vchan-node1"),
        ("rs", "ours (xen_toolstack::vchan)"),
    ] {
        let bytes = number(line, &format!("{key}_bytes"))?;
        let secs = number(line, &format!("{key}_end"))? - number(line, &format!("{key}_start"))?;
        if bytes as usize != vchan_bytes() || secs <= 0.0 {
            return Err(format!(
                "{what}: the guest read {bytes} bytes in {secs:.2} s, expected {} bytes in a positive time ({line})",
                vchan_bytes()
            ));
        }
        let rate = bytes / (1 << 20) as f64 / secs;
        println!(
            "{what}: {} MiB dom0 -> domU in {secs:.2} s = {rate:.2} MiB/s",
            vchan_bytes() >> 20
        );
        rates.push(rate);
    }
    println!(
        "ratio ours / C: {:.2}x (goal: at least 0.9x)",
        rates[1] / rates[0]
    );
    Ok(())
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
