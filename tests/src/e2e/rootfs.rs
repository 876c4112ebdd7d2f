//! The two initramfs images: dom0's (Xen tools from the staged packages, the
//! kernel modules Debian does not build in, our programs, the domU's image) and
//! the domU's (busybox and the guest-side program).

use super::archive::Archive;
use super::error::{E2eError, Result};
use super::libs;
use super::packages::Staged;
use crate::vm;
use std::path::{Path, PathBuf};

const DOM0_INIT: &str = include_str!("dom0-init.sh");
const DOMU_INIT: &str = include_str!("domu-init.sh");

/// Kernel modules dom0 loads (Debian's kernel builds them as modules).
const DOM0_MODULES: &[&str] = &[
    "drivers/xen/xen-privcmd.ko",
    "drivers/xen/xenfs/xenfs.ko",
    "drivers/xen/xen-evtchn.ko",
    "drivers/xen/xen-gntdev.ko",
    "drivers/xen/xen-gntalloc.ko",
    // For the disk image check, loaded by e2e-dom0 (see vm::IMAGE_DOM0_MODULES).
    "drivers/block/loop.ko",
    "drivers/block/xen-blkback/xen-blkback.ko",
];
const IMAGE_HOTPLUG: &str = include_str!("image-block-hotplug.sh");

/// A host-built program to run in the VM, under [`vm::BIN_DIR`] with this name.
#[derive(Clone, Debug)]
pub struct Program {
    pub name: String,
    pub path: PathBuf,
}

const BUSYBOX: &str = "/bin/busybox";

pub(super) fn base(a: &mut Archive, init: &str) -> Result<()> {
    let busybox = Path::new(BUSYBOX);
    if !busybox.exists() || !libs::resolve(&[busybox.to_path_buf()], &[])?.is_empty() {
        return Err(E2eError::Staging {
            what: format!("{BUSYBOX} is missing or not static; fix: run scripts/setup-debian.sh (installs busybox-static)"),
        });
    }
    a.file("bin/busybox", busybox)?;
    a.symlink("bin/sh", "busybox");
    a.bytes("init", init, 0o755);
    for d in ["proc", "sys", "dev", "run", "tmp", "etc", "root"] {
        a.dir(d);
    }
    a.bytes("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
    a.bytes("etc/group", "root:x:0:\n", 0o644);
    Ok(())
}

fn programs(a: &mut Archive, programs: &[Program]) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for p in programs {
        a.file(&format!("{}/{}", vm::BIN_DIR, p.name), &p.path)?;
        paths.push(p.path.clone());
    }
    Ok(paths)
}

/// Adds `libraries` at the path the guest's loader looks for them: staged ones
/// at their place in the package, host ones where they are on the host.
fn add_libraries(a: &mut Archive, staged: &Staged, elves: &[PathBuf]) -> Result<()> {
    let mut wanted = libs::resolve(elves, &staged.library_dirs())?;
    // glibc dlopens libgcc_s for pthread_cancel (xl create uses it); ldd cannot see that.
    wanted.insert(PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"));
    for lib in wanted {
        let dest = staged.guest_path(&lib);
        a.file(&dest.to_string_lossy(), &lib)?;
    }
    Ok(())
}

/// The domU's initramfs.
pub fn domu(staged: &Staged, guest: &[Program], out: &Path) -> Result<u64> {
    let mut a = Archive::new();
    base(&mut a, DOMU_INIT)?;
    let elves = programs(&mut a, guest)?;
    add_libraries(&mut a, staged, &elves)?;
    a.write_to(out)
}

/// The disk image check's files in dom0.
pub struct ImageFiles<'a> {
    /// The template's `root.img.part.NN`, in order.
    pub parts: &'a [PathBuf],
    pub loader: &'a Path,
}

/// GNU tar, for unpacking the template's sparse tar in dom0 (busybox tar has no sparse support).
const GNU_TAR: &str = "/usr/bin/tar";

/// What a Qubes build's boot must show (see [`vm::EXPECTED_DIR`]).
#[derive(Clone, Debug)]
pub struct Expected {
    /// xen-config's olddefconfig of Qubes' config for the built tree.
    pub config: Vec<u8>,
    /// The pinned Xen version (`4.17.6`).
    pub version: String,
    /// The build's fixed user (`XEN_WHOAMI`).
    pub build_user: String,
}

/// The Xen tools of a `make dist-tools` tree installed with `--prefix=/usr`: every ELF
/// program in `usr/sbin`, `usr/bin` and `usr/lib/xen/bin` (links kept), minus Python.
fn upstream_tools(a: &mut Archive, s: &Path, elves: &mut Vec<PathBuf>) -> Result<()> {
    let skip = |p: &str| p.contains("python") || p.ends_with("/pygrub");
    for dir in ["usr/sbin", "usr/bin", "usr/lib/xen/bin"] {
        let Ok(entries) = std::fs::read_dir(s.join(dir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(E2eError::io(s.join(dir)))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let rel = format!("{dir}/{name}");
            if skip(&rel) {
                continue;
            }
            if let Ok(target) = std::fs::read_link(&path) {
                a.symlink(&rel, &target.to_string_lossy());
            } else if path.is_file() && libs::is_elf(&path) {
                a.file(&rel, &path)?;
                elves.push(path);
            }
        }
    }
    a.tree("etc/xen", &s.join("etc/xen"), &|_| false)?;
    Ok(())
}

/// Files under [`vm::EXPECTED_DIR`] that tell dom0 which checks to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dom0Marks<'a> {
    /// A Qubes build's boot.
    pub expected: Option<&'a Expected>,
    /// The template carries the guest bundle of this `<version>-<rel>`.
    pub bundle_version: Option<&'a str>,
    /// scripts/bench-vchan.sh's boot.
    pub bench_vchan: bool,
}

/// dom0's initramfs, with the domU's kernel and initramfs inside, and the disk image.
pub fn dom0(
    staged: &Staged,
    dom0_programs: &[Program],
    domu_initrd: &Path,
    image: &ImageFiles,
    marks: &Dom0Marks,
    out: &Path,
) -> Result<u64> {
    let Dom0Marks {
        expected,
        bundle_version,
        bench_vchan,
    } = *marks;
    let mut a = Archive::new();
    base(&mut a, DOM0_INIT)?;
    if let Some(e) = expected {
        a.dir(vm::EXPECTED_DIR.trim_start_matches('/'));
        a.bytes(
            vm::EXPECTED_CONFIG.trim_start_matches('/'),
            e.config.clone(),
            0o644,
        );
        a.bytes(
            vm::EXPECTED_VERSION.trim_start_matches('/'),
            e.version.clone(),
            0o644,
        );
        a.bytes(
            vm::EXPECTED_BUILD_USER.trim_start_matches('/'),
            e.build_user.clone(),
            0o644,
        );
    }
    if let Some(v) = bundle_version {
        a.dir(vm::EXPECTED_DIR.trim_start_matches('/'));
        a.bytes(
            vm::BUNDLE_VERSION_FILE.trim_start_matches('/'),
            v.to_string(),
            0o644,
        );
    }
    if bench_vchan {
        a.dir(vm::EXPECTED_DIR.trim_start_matches('/'));
        a.bytes(vm::BENCH_VCHAN_FILE.trim_start_matches('/'), "", 0o644);
    }
    let mut elves = Vec::new();
    if staged.layout == super::packages::Layout::Upstream {
        upstream_tools(&mut a, &staged.xen_root, &mut elves)?;
    } else {
        debian_tools(&mut a, &staged.root, &mut elves)?;
    }
    let s = &staged.root;
    let kmods = s
        .join("lib/modules")
        .join(&staged.kernel_release)
        .join("kernel");
    for m in DOM0_MODULES {
        a.file(
            &format!("lib/modules/{}/kernel/{m}", staged.kernel_release),
            &kmods.join(m),
        )?;
    }
    elves.extend(programs(&mut a, dom0_programs)?);
    a.file(vm::GNU_TAR, Path::new(GNU_TAR))?;
    elves.push(PathBuf::from(GNU_TAR));
    add_libraries(&mut a, staged, &elves)?;
    a.file(vm::DOMU_KERNEL, &staged.vmlinuz)?;
    a.file(vm::DOMU_INITRD, domu_initrd)?;
    for part in image.parts {
        let name = part
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        a.file(&format!("{}/{name}", vm::IMAGE_PARTS_DIR), part)?;
    }

    a.file(vm::IMAGE_LOADER, image.loader)?;
    a.bytes(vm::IMAGE_HOTPLUG, IMAGE_HOTPLUG, 0o755);
    a.write_to(out)
}

/// Debian's Xen packages: `usr/lib/xen-4.17`, `etc/xen` and the C xenstore clients.
fn debian_tools(a: &mut Archive, s: &Path, elves: &mut Vec<PathBuf>) -> Result<()> {
    // The Xen tools, minus Python (pygrub and its modules: no interpreter in the image).
    let xen = s.join("usr/lib/xen-4.17");
    let skip = |p: &str| p.ends_with("/pygrub") || p.ends_with("/python") || p.contains("/python/");
    a.tree("usr/lib/xen-4.17", &xen, &skip)?;
    a.tree("etc/xen", &s.join("etc/xen"), &|_| false)?;
    for dir in ["usr/lib/xen-4.17/bin", "usr/bin"] {
        for entry in std::fs::read_dir(s.join(dir)).map_err(E2eError::io(s.join(dir)))? {
            let entry = entry.map_err(E2eError::io(s.join(dir)))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if dir == "usr/bin" {
                // xenstore-utils: the C clients (xenstore-read, -write, -ls, ...).
                if !name.starts_with("xenstore") {
                    continue;
                }
                if let Ok(target) = std::fs::read_link(&path) {
                    a.symlink(&format!("usr/bin/{name}"), &target.to_string_lossy());
                    continue;
                }
                a.file(&format!("usr/bin/{name}"), &path)?;
            }
            if !skip(&format!("{dir}/{name}")) && path.is_file() && !path.is_symlink() {
                elves.push(path);
            }
        }
    }
    Ok(())
}
