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

/// Which Xen the VM boots.
#[derive(Clone, Debug)]
pub enum XenSource {
    /// Debian's packages, at the version of the host's libxen-dev.
    Debian,
    /// An output folder of `package-defs build` (mode full): its `xen.gz` and its installed
    /// tools tree `install/` (prefix /usr); only the kernel comes from Debian.
    Built {
        out: PathBuf,
        /// Shown in the summary (e.g. `4.17.6-6`).
        version: String,
    },
}

/// How the Xen tools are laid out in [`Staged::xen_root`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Debian's: `usr/lib/xen-4.17/{bin,lib/x86_64-linux-gnu}`, C clients in `usr/bin`.
    Debian,
    /// Xen's own `make dist-tools` with `--prefix=/usr`: `usr/{sbin,bin,lib}`, `usr/lib/xen/bin`.
    Upstream,
}

/// Where the staged packages are and what they are.
#[derive(Clone, Debug)]
pub struct Staged {
    /// The merged contents of every staged package (the kernel, and Debian's Xen).
    pub root: PathBuf,
    /// Where the Xen tools are: `root` for Debian's, a build's `install/` otherwise.
    pub xen_root: PathBuf,
    pub layout: Layout,
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
        let mut dirs: Vec<PathBuf> = [
            "usr/lib/x86_64-linux-gnu",
            "lib/x86_64-linux-gnu",
            "usr/lib/xen-4.17/lib/x86_64-linux-gnu",
        ]
        .iter()
        .map(|d| self.root.join(d))
        .collect();
        if self.layout == Layout::Upstream {
            dirs.insert(0, self.xen_root.join("usr/lib"));
        }
        dirs
    }

    /// Where a staged file goes in the guest: its place in the package.
    pub fn guest_path(&self, host: &Path) -> PathBuf {
        host.strip_prefix(&self.xen_root)
            .or_else(|_| host.strip_prefix(&self.root))
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| host.to_path_buf())
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

/// Stages what `source` needs under `cache` (reusing an earlier identical staging).
pub fn stage_for(cache: &Path, source: &XenSource) -> Result<Staged> {
    match source {
        XenSource::Debian => stage(cache),
        XenSource::Built { out, version } => {
            let mut s = stage_packages(cache, None)?;
            let gz = out.join("xen.gz");
            let (digest, _) = content_hash::hash_file(&gz).map_err(E2eError::io(&gz))?;
            let dir = cache.join(format!("built-xen-{}", digest.to_hex()));
            let xen = dir.join("xen");
            if !xen.exists() {
                fs::create_dir_all(&dir).map_err(E2eError::io(&dir))?;
                let raw = command::output(Command::new("zcat").arg(&gz))?.stdout;
                let tmp = dir.join(format!(".xen.tmp-{}", std::process::id()));
                fs::write(&tmp, raw).map_err(E2eError::io(&tmp))?;
                fs::rename(&tmp, &xen).map_err(E2eError::io(&xen))?;
            }
            s.xen = xen;
            s.xen_root = out.join("install");
            s.layout = Layout::Upstream;
            s.xen_version = format!("{version} (package-defs build {})", out.display());
            if !s.xen_root.join("usr/sbin/xl").is_file() {
                return Err(E2eError::Staging {
                    what: format!(
                        "{}: no usr/sbin/xl; expected the output of a full `package-defs build`",
                        s.xen_root.display()
                    ),
                });
            }
            Ok(s)
        }
    }
}

/// Stages the packages under `cache` (reusing an earlier identical staging).
pub fn stage(cache: &Path) -> Result<Staged> {
    stage_packages(cache, Some(&host_xen_version()?))
}

/// Stages the kernel and, with `xen_version`, Debian's Xen packages.
fn stage_packages(cache: &Path, xen_version: Option<&str>) -> Result<Staged> {
    let (kernel_package, kernel_version) = kernel_package()?;
    let key = match xen_version {
        Some(v) => format!(
            "stage-v{LAYOUT}-xen-{}-{}-{}",
            path_safe(v),
            kernel_package,
            path_safe(&kernel_version)
        ),
        None => format!(
            "stage-v{LAYOUT}-kernel-{}-{}",
            kernel_package,
            path_safe(&kernel_version)
        ),
    };
    let dir = cache.join(&key);
    if !dir.join(".complete").exists() {
        tracing::info!(%key, "staging Xen and kernel packages");
        fs::create_dir_all(cache).map_err(E2eError::io(cache))?;
        let tmp = cache.join(format!(".{key}.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        download_and_extract(&tmp, xen_version, &kernel_package, &kernel_version)?;
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
        xen_root: root.clone(),
        layout: Layout::Debian,
        root,
        vmlinuz,
        kernel_release,
        xen_version: xen_version.unwrap_or("-").to_string(),
        kernel_package,
        kernel_version,
    })
}

fn download_and_extract(
    tmp: &Path,
    xen_version: Option<&str>,
    kpkg: &str,
    kver: &str,
) -> Result<()> {
    let debs = tmp.join("debs");
    let root = tmp.join("root");
    fs::create_dir_all(&debs).map_err(E2eError::io(&debs))?;
    fs::create_dir_all(&root).map_err(E2eError::io(&root))?;
    let mut specs: Vec<String> = match xen_version {
        Some(v) => XEN_PACKAGES.iter().map(|p| format!("{p}={v}")).collect(),
        None => Vec::new(),
    };
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
    if xen_version.is_some() {
        let gz = root.join("boot/xen-4.17-amd64.gz");
        let xen = command::output(Command::new("zcat").arg(&gz))?.stdout;
        fs::write(tmp.join("xen"), xen).map_err(E2eError::io(tmp.join("xen")))?;
    }
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
