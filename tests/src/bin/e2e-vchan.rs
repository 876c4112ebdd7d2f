//! The vchan client of the bundle template (issue 15's proof): linked with the RUNPATH
//! of the guest bundle (see build.rs), it loads libxenvchan and its closure from
//! `/opt/qubes-xen/current/lib`, connects to dom0's server, receives and sends one
//! stream each way (`qxk_tests::inside::vchan`) and prints one line for dom0 to read
//! from its console: which libxen* files are mapped, and both transfers.

use anyhow::{Context, Result};
use qxk_tests::inside::vchan;
use qxk_tests::vm;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use xen_toolstack::vchan::Vchan;

/// The libxen* files this process has mapped, as the kernel names them (links resolved).
fn mapped_xen_libraries() -> Result<Vec<String>> {
    let maps = std::fs::read_to_string("/proc/self/maps").context("/proc/self/maps")?;
    let mut libs: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("libxen"))
        })
        .map(str::to_string)
        .collect();
    libs.sort();
    libs.dedup();
    Ok(libs)
}

/// dom0 publishes the vchan after `xl create`; the guest may get here first.
fn connect(path: &str) -> Result<Vchan> {
    let start = Instant::now();
    loop {
        match Vchan::client(0, path) {
            Ok(v) => return Ok(v),
            Err(_) if start.elapsed() < Duration::from_secs(90) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e).context("no vchan server from dom0 within 90 s"),
        }
    }
}

fn exchange(path: &str) -> Result<String> {
    let libs = mapped_xen_libraries()?;
    let mut v = connect(path)?;
    let got = vchan::receive(&mut v)?;
    let seed = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("/proc/sys/kernel/random/uuid")?
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    let sent = vchan::send(&mut v, seed)?;
    v.flush()?;
    let mut ack = [0u8; 1];
    v.read_exact(&mut ack).context("waiting for dom0's ack")?;
    Ok(format!(
        "libs={} recv_bytes={} recv_sha256={} recv_announced={} recv_ms={} sent_bytes={} sent_sha256={} send_ms={} ack={}",
        libs.join(","),
        got.bytes,
        got.sha256,
        got.announced.unwrap_or_default(),
        got.elapsed.as_millis(),
        sent.bytes,
        sent.sha256,
        sent.elapsed.as_millis(),
        ack[0] == vchan::ACK
    ))
}

/// The benchmark's reader (scripts/bench-vchan.sh): everything the server at `path` sends,
/// copied to stdout as the C `vchan-node1 client read` does, until the server closes.
fn copy_out(path: &str) -> Result<u64> {
    use std::os::fd::AsFd;
    let mut v = connect(path)?;
    // Unbuffered fd 1: std's stdout is line-buffered, which would split binary data at newlines.
    let mut out = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    std::io::copy(&mut v, &mut out).context("copying the vchan to stdout")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--copy-out" {
        if let Err(e) = copy_out(&args[2]) {
            eprintln!("e2e-vchan: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let line = match args.get(1) {
        Some(path) => match exchange(path) {
            Ok(fields) => fields,
            Err(e) => format!("error={e:#}"),
        },
        None => "error=usage: e2e-vchan XENSTORE-PATH".to_string(),
    };
    println!("{} {line}", vm::VCHAN_MARKER);
}
