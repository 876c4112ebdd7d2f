//! Host side of the end-to-end run: stage Debian's Xen and kernel packages, build
//! dom0's and the domU's initramfs around host-built programs, boot under QEMU,
//! collect the per-check results from the serial console.
//!
//! One boot serves every check (booting Xen under software emulation costs tens
//! of seconds); `tests/e2e.rs` shares it between its tests.

mod archive;
mod command;
mod error;
mod image;
mod libs;
mod packages;
mod qemu;
mod rootfs;

pub use error::E2eError;
pub use packages::{Layout, Staged, XenSource};
pub use qemu::{BootOutcome, DEBUG_EXIT_STATUS};
pub use rootfs::{Expected, Program};

use crate::report::CheckResult;
use crate::vm;
use error::Result;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to run and where to keep things.
#[derive(Clone, Debug)]
pub struct E2eConfig {
    /// Download cache and per-run folders (e.g. `target/qxk-cache/e2e`).
    pub cache: PathBuf,
    /// Programs for dom0; the one named `e2e-dom0` runs the checks.
    pub dom0_programs: Vec<Program>,
    /// Programs for the domU; the one named `e2e-domu` runs the guest-side checks.
    pub domu_programs: Vec<Program>,
    /// Programs the disk image carries under [`vm::BIN_DIR`] (our `xs`).
    pub image_programs: Vec<Program>,
    pub timeout: Duration,
    /// The hypervisor and tools to boot.
    pub xen: XenSource,
    /// What a Qubes build must show (its checks run only with this).
    pub expected: Option<Expected>,
    /// The guest bundle the template carries (issue 15's proof); without it the template
    /// carries our `xs` instead.
    pub bundle: Option<GuestBundle>,
    /// For scripts/bench-vchan.sh only: the C `vchan-node1` of the same tree, put into dom0
    /// and the template (which needs the bundle) to time against our vchan.
    pub bench_vchan_node1: Option<PathBuf>,
}

/// A guest bundle made by `package-defs bundle`, for the template's `root.add`.
#[derive(Clone, Debug)]
pub struct GuestBundle {
    pub tarball: PathBuf,
    /// Its `<version>-<rel>` (`opt/qubes-xen/<version>-<rel>/` in the tarball).
    pub version: String,
    /// The `xs` it packs: the template needs the host libraries it loads (glibc, libgcc_s).
    pub xs: PathBuf,
}

/// Where the time went, for the report.
#[derive(Clone, Debug)]
pub struct Timings {
    pub stage: Duration,
    pub initramfs: Duration,
    /// Of `initramfs`: the template (tree + `images::build`) and its loader.
    pub image: Duration,
    pub boot: Duration,
}

/// One finished boot.
#[derive(Debug)]
pub struct Run {
    pub staged: Staged,
    pub outcome: BootOutcome,
    pub timings: Timings,
    pub dom0_initrd_bytes: u64,
    pub image_disk_bytes: u64,
}

/// Lines of serial log a failure message carries.
const TAIL_LINES: usize = 40;

impl Run {
    /// The result of check `name`, or a message explaining why there is none or
    /// why it failed, with the end of the serial log.
    pub fn check(&self, name: &str) -> std::result::Result<&CheckResult, String> {
        let o = &self.outcome;
        let found = o.results.iter().find(|r| r.check == name);
        let why = match found {
            Some(r) if r.ok => return Ok(r),
            Some(r) => format!("check {name} FAILED in the VM: {}", r.detail),
            None => {
                let mut s = format!("check {name} reported no result");
                if let Some(c) = &o.crash {
                    s += &format!("; the VM crashed: {c}");
                } else if o.timed_out {
                    s += &format!("; the run timed out after {:?}", o.wall);
                } else if !o.done {
                    s += &format!(
                        "; dom0 never printed {} (QEMU exit {:?})",
                        crate::report::DONE_MARKER,
                        o.exit_status
                    );
                }
                if !o.garbled.is_empty() {
                    s += &format!("; garbled result lines: {:?}", o.garbled);
                }
                s
            }
        };
        Err(self.with_log_tail(&why))
    }

    /// `why`, followed by where the serial log is and its last lines.
    pub fn with_log_tail(&self, why: &str) -> String {
        let log = &self.outcome.log;
        format!(
            "{why}\nserial log: {}\n---- last {TAIL_LINES} lines ----\n{}",
            log.display(),
            qemu::tail(log, TAIL_LINES)
        )
    }

    /// One line on what ran and how long it took.
    pub fn summary(&self) -> String {
        let o = &self.outcome;
        format!(
            "Xen {} + {} under QEMU TCG: staging {:.1} s, initramfs {:.1} s ({} MiB; template {:.1} s, {} MiB disk), boot-to-done {:.1} s (dom0 userspace at {}), {} results ({} failed), QEMU exit {:?}, log {}",
            self.staged.xen_version,
            self.staged.kernel_package,
            self.timings.stage.as_secs_f64(),
            self.timings.initramfs.as_secs_f64(),
            self.dom0_initrd_bytes >> 20,
            self.timings.image.as_secs_f64(),
            self.image_disk_bytes >> 20,
            self.timings.boot.as_secs_f64(),
            o.dom0_userspace_at.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            o.results.len(),
            o.results.iter().filter(|r| !r.ok).count(),
            o.exit_status,
            o.log.display()
        )
    }
}

/// Copies of `programs` without debug info: test builds carry tens of MiB of it,
/// which the guests would have to hold in RAM (dom0 has 512 MiB, the domU 128).
fn stripped(programs: &[Program], dir: &Path) -> Result<Vec<Program>> {
    std::fs::create_dir_all(dir).map_err(E2eError::io(dir))?;
    programs
        .iter()
        .map(|p| {
            let out = dir.join(&p.name);
            command::output(
                std::process::Command::new("strip")
                    .arg("--strip-debug")
                    .arg("-o")
                    .arg(&out)
                    .arg(&p.path),
            )?;
            Ok(Program {
                name: p.name.clone(),
                path: out,
            })
        })
        .collect()
}

/// Removes the folders of earlier runs whose process is gone (crashed or killed
/// runs leave theirs); a live concurrent run keeps its own.
fn remove_stale_runs(cache: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix("run-")
            .map(|rest| rest.split('-').next().unwrap_or(rest))
        {
            let alive = pid.parse::<u32>().is_ok_and(|p| {
                p == std::process::id() || Path::new(&format!("/proc/{p}")).exists()
            });
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Stages, builds and boots once.
pub fn run(cfg: &E2eConfig) -> Result<Run> {
    let t = Instant::now();
    let staged = packages::stage_for(&cfg.cache, &cfg.xen)?;
    let stage = t.elapsed();

    let t = Instant::now();
    remove_stale_runs(&cfg.cache);
    // One folder per boot of this process (a test binary may boot Qubes' and Debian's Xen).
    let which = match &cfg.xen {
        XenSource::Debian => "debian",
        XenSource::Built { .. } => "built",
    };
    let dir = cfg
        .cache
        .join(format!("run-{}-{which}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(E2eError::io(&dir))?;
    let node1: Vec<Program> = cfg
        .bench_vchan_node1
        .iter()
        .map(|p| Program {
            name: "vchan-node1".into(),
            path: p.clone(),
        })
        .collect();
    let dom0_programs = stripped(
        &[cfg.dom0_programs.clone(), node1.clone()].concat(),
        &dir.join("dom0-bin"),
    )?;
    let domu_programs = stripped(&cfg.domu_programs, &dir.join("domu-bin"))?;
    let domu_initrd = dir.join("domu.cpio");
    let dom0_initrd = dir.join("dom0.cpio");
    rootfs::domu(&staged, &domu_programs, &domu_initrd)?;
    let t_image = Instant::now();
    let image_programs = stripped(
        &[cfg.image_programs.clone(), node1].concat(),
        &dir.join("image-bin"),
    )?;
    let image_dir = dir.join("image");
    let template = image::build_template(&image_programs, cfg.bundle.as_ref(), &image_dir)?;
    let image_disk_bytes = template.disk_bytes;
    let loader = dir.join("image-loader.cpio");
    image::loader(&staged, &loader)?;
    let image_time = t_image.elapsed();
    let files = rootfs::ImageFiles {
        parts: &template.parts,
        loader: &loader,
    };
    let dom0_initrd_bytes = rootfs::dom0(
        &staged,
        &dom0_programs,
        &domu_initrd,
        &files,
        &rootfs::Dom0Marks {
            expected: cfg.expected.as_ref(),
            bundle_version: cfg.bundle.as_ref().map(|b| b.version.as_str()),
            bench_vchan: cfg.bench_vchan_node1.is_some(),
        },
        &dom0_initrd,
    )?;
    let initramfs = t.elapsed();

    let t = Instant::now();
    let outcome = qemu::boot(&qemu::BootConfig {
        xen: staged.xen.clone(),
        kernel: staged.vmlinuz.clone(),
        initrd: dom0_initrd.clone(),
        log: dir.join("serial.log"),
        timeout: cfg.timeout,
        mem_mib: vm::VM_MEM_MIB,
        dom0_mem_mib: vm::DOM0_MEM_MIB,
        cpus: vm::VM_CPUS,
    })?;
    let boot = t.elapsed();
    // The images are rebuilt every run; the log stays for reading.
    for f in [&domu_initrd, &dom0_initrd, &loader] {
        let _ = std::fs::remove_file(f);
    }
    for d in ["dom0-bin", "domu-bin", "image-bin", "image"] {
        let _ = std::fs::remove_dir_all(dir.join(d));
    }
    Ok(Run {
        staged,
        outcome,
        timings: Timings {
            stage,
            initramfs,
            image: image_time,
            boot,
        },
        dom0_initrd_bytes,
        image_disk_bytes,
    })
}

/// The cache folder for a build whose binaries are in `target/<profile>/`:
/// `$QXK_E2E_CACHE`, else `target/qxk-cache/e2e`.
pub fn default_cache(binary: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("QXK_E2E_CACHE") {
        return PathBuf::from(dir);
    }
    let target = binary
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    target.join("qxk-cache").join("e2e")
}
