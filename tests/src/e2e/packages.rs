//! Stages Debian's Xen hypervisor, Xen tools and kernel for the VM without
//! installing them on the host: `apt-get download` + `dpkg-deb -x` into a cache
//! folder named after the exact package versions, so a version bump re-stages and
//! an unchanged one costs nothing.

use super::command;
use super::error::{E2eError, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the staged layout changes, to invalidate old caches.
const LAYOUT: u32 = 1;

/// The Xen packages, all built from one source and pinned to one version.
const XEN_PACKAGES: &[&str] = &[
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "xen-utils-common",
    "xenstore-utils",
    "libxencall1",
    "libxendevicemodel1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenhypfs1",
    "libxenmisc4.17",
    "libxenstore4",
    "libxentoolcore1",
    "libxentoollog1",
];

/// Where the staged packages are and what they are.
#[derive(Clone, Debug)]
pub struct Staged {
    /// The merged contents of every staged package.
    pub root: PathBuf,
    /// Xen's multiboot ELF, decompressed (QEMU's multiboot loader wants it raw).
    pub xen: PathBuf,
    /// The dom0 (and domU) kernel.
    pub vmlinuz: PathBuf,
    /// `uname -r` of that kernel, i.e. its `lib/modules` folder.
    pub kernel_release: String,
    pub xen_version: String,
    pub kernel_package: String,
    pub kernel_version: String,
}

impl Staged {
    /// Library folders of the staged packages, in search order.
    pub fn library_dirs(&self) -> Vec<PathBuf> {
        [
            "usr/lib/x86_64-linux-gnu",
            "lib/x86_64-linux-gnu",
            "usr/lib/xen-4.17/lib/x86_64-linux-gnu",
        ]
        .iter()
        .map(|d| self.root.join(d))
        .collect()
    }
}

/// The Xen version to stage: the one whose headers and libraries the host builds
/// against (libxen-dev), so bindings and the live toolstack match exactly.
fn host_xen_version() -> Result<String> {
    let v = command::stdout(Command::new("dpkg-query").args([
        "-W",
        "-f=${Version}",
        "libxen-dev",
    ]))
    .map_err(|e| E2eError::Staging {
        what: format!("cannot tell the host's Xen version from libxen-dev ({e}); fix: run scripts/setup-debian.sh"),
    })?;
    Ok(v.trim().to_string())
}

/// The versioned kernel package `linux-image-amd64` currently points at, and its version.
fn kernel_package() -> Result<(String, String)> {
    let deps = command::stdout(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    let pkg = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| {
            p.strip_prefix("linux-image-")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .ok_or_else(|| E2eError::Staging {
            what: "apt-cache depends linux-image-amd64 names no linux-image-N package; fix: `apt-get update` (the package lists are missing)".into(),
        })?;
    let show =
        command::stdout(Command::new("apt-cache").args(["show", "--no-all-versions", &pkg]))?;
    let version = show
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| E2eError::Staging {
            what: format!("apt-cache show {pkg} has no Version field"),
        })?;
    Ok((pkg, version))
}

/// Makes a version string safe and readable as part of a folder name.
fn path_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Stages the packages under `cache` (reusing an earlier identical staging).
pub fn stage(cache: &Path) -> Result<Staged> {
    let xen_version = host_xen_version()?;
    let (kernel_package, kernel_version) = kernel_package()?;
    let key = format!(
        "stage-v{LAYOUT}-xen-{}-{}-{}",
        path_safe(&xen_version),
        kernel_package,
        path_safe(&kernel_version)
    );
    let dir = cache.join(&key);
    if !dir.join(".complete").exists() {
        tracing::info!(%key, "staging Xen and kernel packages");
        fs::create_dir_all(cache).map_err(E2eError::io(cache))?;
        let tmp = cache.join(format!(".{key}.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        download_and_extract(&tmp, &xen_version, &kernel_package, &kernel_version)?;
        fs::File::create(tmp.join(".complete"))
            .and_then(|mut f| f.write_all(key.as_bytes()))
            .map_err(E2eError::io(&tmp))?;
        if let Err(e) = fs::rename(&tmp, &dir) {
            // Another run staged the same versions concurrently: use theirs.
            let _ = fs::remove_dir_all(&tmp);
            if !dir.join(".complete").exists() {
                return Err(E2eError::Io {
                    path: dir,
                    source: e,
                });
            }
        }
    }
    let root = dir.join("root");
    let kernel_release = kernel_package
        .strip_prefix("linux-image-")
        .unwrap_or(&kernel_package)
        .to_string();
    let vmlinuz = root.join(format!("boot/vmlinuz-{kernel_release}"));
    if !vmlinuz.exists() || !root.join("lib/modules").join(&kernel_release).is_dir() {
        return Err(E2eError::Staging {
            what: format!(
                "{}: missing after staging {kernel_package}",
                vmlinuz.display()
            ),
        });
    }
    Ok(Staged {
        xen: dir.join("xen"),
        root,
        vmlinuz,
        kernel_release,
        xen_version,
        kernel_package,
        kernel_version,
    })
}

fn download_and_extract(tmp: &Path, xen_version: &str, kpkg: &str, kver: &str) -> Result<()> {
    let debs = tmp.join("debs");
    let root = tmp.join("root");
    fs::create_dir_all(&debs).map_err(E2eError::io(&debs))?;
    fs::create_dir_all(&root).map_err(E2eError::io(&root))?;
    let mut specs: Vec<String> = XEN_PACKAGES
        .iter()
        .map(|p| format!("{p}={xen_version}"))
        .collect();
    specs.push(format!("{kpkg}={kver}"));
    command::output(
        Command::new("apt-get")
            // Bounded: apt's own per-connection timeout and retries.
            .args([
                "-q",
                "-o",
                "Acquire::http::Timeout=30",
                "-o",
                "Acquire::Retries=3",
            ])
            // Downloading as root into a folder the _apt user cannot enter is fine.
            .args(["-o", "APT::Sandbox::User=root", "download"])
            .args(&specs)
            .current_dir(&debs),
    )
    .map_err(|e| E2eError::Staging {
        what: format!(
            "downloading {} failed: {e}; fix: check the network and run `apt-get update`",
            specs.join(" ")
        ),
    })?;
    let mut n = 0;
    for entry in fs::read_dir(&debs).map_err(E2eError::io(&debs))? {
        let path = entry.map_err(E2eError::io(&debs))?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            // dpkg-deb refuses members that escape the target folder.
            command::output(Command::new("dpkg-deb").arg("-x").arg(&path).arg(&root))?;
            n += 1;
        }
    }
    if n != specs.len() {
        return Err(E2eError::Staging {
            what: format!(
                "apt-get download left {n} .deb files in {}, expected {}",
                debs.display(),
                specs.len()
            ),
        });
    }
    let gz = root.join("boot/xen-4.17-amd64.gz");
    let xen = command::output(Command::new("zcat").arg(&gz))?.stdout;
    fs::write(tmp.join("xen"), xen).map_err(E2eError::io(tmp.join("xen")))?;
    fs::remove_dir_all(&debs).map_err(E2eError::io(&debs))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::path_safe;

    #[test]
    fn versions_become_plain_folder_names() {
        assert_eq!(
            path_safe("4.17.7+13-g2445b30a44-0+deb12u1"),
            "4.17.7_13-g2445b30a44-0_deb12u1"
        );
        assert_eq!(path_safe("1:7.2/x"), "1_7.2_x");
    }
}
