//! Boots Xen with dom0 under `qemu-system-x86_64` software emulation and follows
//! the serial console until dom0 reports it is done, the guest crashes, or time
//! runs out. The whole console goes to a log file; result lines are parsed on the fly.
//!
//! QEMU facts this relies on (checked with QEMU 7.2, Debian 12):
//! - `-cpu max,-smap`: QEMU's TCG pops an IRET frame with a supervisor access; a
//!   64-bit PV kernel runs in ring 3, so with SMAP on, dom0's first `iretq` faults
//!   and dom0 dies silently.
//! - multiboot `-kernel` takes Xen's raw ELF; `-initrd "kernel args,initrd"` gives
//!   Xen its dom0 kernel (with command line) and initramfs as modules.
//! - Xen's `bootscrub=0`: otherwise Xen scrubs all guest RAM in the background and
//!   QEMU's resident memory grows from ~0.6 GiB to the whole VM size.
//! - `isa-debug-exit` lets dom0 end QEMU with a known status instead of a timeout.

use super::error::{E2eError, Result};
use crate::report::{CheckResult, DONE_MARKER};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// QEMU's exit status when dom0 writes 0x2a to the isa-debug-exit port.
pub const DEBUG_EXIT_STATUS: i32 = (0x2a << 1) | 1;

/// Console lines that mean the run is over and failed.
const CRASH_PATTERNS: &[&str] = &[
    "Hardware Dom0 crashed",
    "Kernel panic",
    "Panic on CPU",
    "Attempted to kill init",
    // The image did not fit: the rest of the run would only show its consequences.
    "Initramfs unpacking failed",
];

#[derive(Clone, Debug)]
pub struct BootConfig {
    pub xen: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub log: PathBuf,
    pub timeout: Duration,
    pub mem_mib: u64,
    pub dom0_mem_mib: u64,
    pub cpus: u32,
}

/// Everything the host learned from one boot.
#[derive(Clone, Debug)]
pub struct BootOutcome {
    pub results: Vec<CheckResult>,
    /// Result lines whose JSON did not parse (garbled on the console).
    pub garbled: Vec<String>,
    /// dom0 printed the done marker: every check ran.
    pub done: bool,
    pub crash: Option<String>,
    pub timed_out: bool,
    pub exit_status: Option<i32>,
    /// From starting QEMU to the done marker (or the end).
    pub wall: Duration,
    /// The console line that first came from dom0's init, and when (wall clock).
    pub dom0_userspace_at: Option<Duration>,
    pub log: PathBuf,
}

fn qemu_path_arg(p: &Path) -> Result<String> {
    let s = p.to_string_lossy().into_owned();
    if s.contains([' ', ',']) {
        return Err(E2eError::UnsafePath {
            path: p.to_path_buf(),
        });
    }
    Ok(s)
}

pub fn command(cfg: &BootConfig) -> Result<Command> {
    let xen_args = format!(
        "console=com1 com1=115200,8n1 dom0_mem={m}M,max:{m}M noreboot bootscrub=0 guest_loglvl=warning",
        m = cfg.dom0_mem_mib
    );
    let dom0_args = "console=hvc0 earlyprintk=xen rdinit=/init loglevel=4";
    let modules = format!(
        "{} {dom0_args},{}",
        qemu_path_arg(&cfg.kernel)?,
        qemu_path_arg(&cfg.initrd)?
    );
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "q35", "-accel", "tcg", "-cpu", "max,-smap"])
        .args([
            "-m",
            &cfg.mem_mib.to_string(),
            "-smp",
            &cfg.cpus.to_string(),
        ])
        .args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-kernel")
        .arg(&cfg.xen)
        .args(["-append", &xen_args, "-initrd", &modules])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(cmd)
}

/// Kills QEMU if the harness unwinds before reaping it.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn boot(cfg: &BootConfig) -> Result<BootOutcome> {
    let mut cmd = command(cfg)?;
    tracing::info!(command = %super::command::describe(&cmd), "booting");
    let start = Instant::now();
    let child = cmd.spawn().map_err(|source| E2eError::MissingTool {
        tool: "qemu-system-x86_64".into(),
        package: "qemu-system-x86".into(),
        source,
    })?;
    let mut child = Reaper(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let stderr = child.0.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut log = fs::File::create(&cfg.log).map_err(E2eError::io(&cfg.log))?;
    let mut out = BootOutcome {
        results: Vec::new(),
        garbled: Vec::new(),
        done: false,
        crash: None,
        timed_out: false,
        exit_status: None,
        wall: Duration::ZERO,
        dom0_userspace_at: None,
        log: cfg.log.clone(),
    };
    let deadline = start + cfg.timeout;
    // After the done marker or a crash, give QEMU a moment to exit or print the rest.
    let mut grace_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let limit = grace_until.unwrap_or(deadline);
        if now >= limit {
            if grace_until.is_none() {
                out.timed_out = true;
            }
            break;
        }
        match rx.recv_timeout(limit - now) {
            Ok(line) => {
                writeln!(log, "{line}").map_err(E2eError::io(&cfg.log))?;
                if out.dom0_userspace_at.is_none() && line.contains("qxk-init: dom0 userspace up") {
                    out.dom0_userspace_at = Some(start.elapsed());
                }
                if let Some(parsed) = CheckResult::parse_line(&line) {
                    match parsed {
                        Ok(r) => out.results.push(r),
                        Err(e) => out.garbled.push(format!("{line} ({e})")),
                    }
                } else if line.contains(DONE_MARKER) {
                    out.done = true;
                    out.wall = start.elapsed();
                    grace_until = Some(Instant::now() + Duration::from_secs(20));
                } else if out.crash.is_none() {
                    if let Some(p) = CRASH_PATTERNS.iter().find(|p| line.contains(*p)) {
                        out.crash = Some(format!("{p}: {line}"));
                        grace_until = Some(Instant::now() + Duration::from_secs(3));
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // QEMU closed the console: it exited.
        }
    }
    if !out.done {
        out.wall = start.elapsed();
    }
    // Wait briefly for a clean exit, then kill.
    let stop_by = Instant::now() + Duration::from_secs(5);
    loop {
        match child.0.try_wait() {
            Ok(Some(status)) => {
                out.exit_status = status.code();
                break;
            }
            Ok(None) if Instant::now() < stop_by => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                break;
            }
        }
    }
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        let _ = writeln!(log, "{line}");
    }
    let stderr_text = err_reader.join().unwrap_or_default();
    if !stderr_text.trim().is_empty() {
        let _ = writeln!(log, "---- qemu stderr ----\n{stderr_text}");
        if out.results.is_empty()
            && !out.done
            && out.exit_status.is_some_and(|s| s != DEBUG_EXIT_STATUS)
        {
            return Err(E2eError::Command {
                command: super::command::describe(&cmd),
                status: format!("exit {:?}", out.exit_status),
                stderr: stderr_text,
            });
        }
    }
    Ok(out)
}

/// The last `n` lines of a log, for failure messages.
pub fn tail(log: &Path, n: usize) -> String {
    let text =
        fs::read_to_string(log).unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(initrd: &str) -> BootConfig {
        BootConfig {
            xen: "/c/xen".into(),
            kernel: "/c/vmlinuz".into(),
            initrd: initrd.into(),
            log: "/c/log".into(),
            timeout: Duration::from_secs(1),
            mem_mib: 2048,
            dom0_mem_mib: 512,
            cpus: 2,
        }
    }

    #[test]
    fn modules_carry_dom0_command_line_and_initrd() {
        let cmd = command(&cfg("/c/dom0.cpio")).unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let initrd = &args[args.iter().position(|a| a == "-initrd").unwrap() + 1];
        assert!(initrd.starts_with("/c/vmlinuz console=hvc0 "), "{initrd}");
        assert!(initrd.ends_with(",/c/dom0.cpio"), "{initrd}");
        let xen = &args[args.iter().position(|a| a == "-append").unwrap() + 1];
        assert!(
            xen.contains("dom0_mem=512M,max:512M") && xen.contains("bootscrub=0"),
            "{xen}"
        );
        assert!(args.contains(&"max,-smap".to_string()));
    }

    #[test]
    fn paths_qemu_would_split_are_refused() {
        for bad in ["/c/a,b.cpio", "/c/a b.cpio"] {
            let e = command(&cfg(bad)).unwrap_err();
            assert!(e.to_string().contains("QXK_E2E_CACHE"), "{e}");
        }
    }
}
