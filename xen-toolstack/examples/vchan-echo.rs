//! A vchan round trip, for a first check on a real hypervisor: the server sends BYTES of a
//! fixed pseudo-random stream in chunks, the client echoes every byte back, the server
//! compares; the client stops at end of stream (the server closing). Both ends may run in
//! dom0 (domain 0 on both sides) or the client in a domU.
//!
//!     vchan-echo server CLIENT_DOMID PATH BYTES    # e.g. server 0 /local/domain/0/data/vchan-echo 16777216
//!     vchan-echo client SERVER_DOMID PATH
//!
//!     cargo build -p xen-toolstack --example vchan-echo --features xenvchan
//!
//! Checked by hand (not yet in the e2e harness) on Debian's Xen 4.17 under QEMU, both ends in
//! dom0 (`../shared/tools/xen-qemu-e2e.sh` with SHARE_DIR holding this binary and a run.sh):
//! 16 MiB each way equal, the client saw end of stream when the server closed, and the
//! server's xenstore entries were gone after.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use xen_toolstack::vchan::Vchan;

/// At most one ring's worth in flight, so neither side blocks on a full ring while the other
/// waits on it.
const CHUNK: usize = 1024;

fn byte(i: usize) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        [mode, dom, path, bytes] if mode == "server" => {
            let bytes: usize = bytes.parse()?;
            let mut v = Vchan::server(dom.parse()?, path, 64 * 1024, 64 * 1024)?;
            let start = Instant::now();
            let (mut out, mut back) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
            let mut sent = 0;
            while sent < bytes {
                let n = CHUNK.min(bytes - sent);
                for (j, b) in out[..n].iter_mut().enumerate() {
                    *b = byte(sent + j);
                }
                v.write_all(&out[..n])?;
                v.read_exact(&mut back[..n])?;
                if back[..n] != out[..n] {
                    return Err(format!("echo differs in bytes {sent}..{}", sent + n).into());
                }
                sent += n;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "vchan-echo: {bytes} bytes each way, equal, {:.1} MiB/s round trip",
                bytes as f64 / secs / (1 << 20) as f64
            );
            Ok(())
        }
        [mode, dom, path] if mode == "client" => {
            let mut v = Vchan::client(dom.parse()?, path)?;
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0usize;
            loop {
                let n = v.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                v.write_all(&buf[..n])?;
                total += n;
            }
            println!("vchan-echo: client echoed {total} bytes, end of stream");
            Ok(())
        }
        _ => Err(
            "usage: vchan-echo server CLIENT_DOMID PATH BYTES | client SERVER_DOMID PATH".into(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
