//! The disk image check's host side: a tiny root tree that carries our `xs`
//! (busybox, the libraries ldd names, an `/sbin/init` that reads the guest's own
//! name), built into a Qubes template by the `images` crate the way a user builds
//! one from a spec, and the loader initramfs that mounts that disk's root
//! partition in a PV domU and hands over to the image's init.
//!
//! The template (not a `raw` disk) travels to dom0: its `root.img.part.NN` pieces
//! are an old-GNU sparse tar holding only the data blocks, so the Qubes layout's
//! empty 200 MiB ESP costs nothing in dom0's hole-less initramfs. dom0 unpacks
//! them as `qvm-template` does (`cat parts | tar xSf -`), sparse, into its tmpfs.

use super::archive::Archive;
use super::error::{E2eError, Result};
use super::libs;
use super::packages::Staged;
use super::rootfs::Program;
use super::GuestBundle;
use crate::vm;
use std::fs;
use std::path::{Path, PathBuf};

/// `/sbin/init` of the image.
pub const IMAGE_INIT: &str = include_str!("image-init.sh");
const LOADER_INIT: &str = include_str!("image-loader-init.sh");

/// Modules the loader inserts, in load order: dependencies (from each module's
/// `.modinfo` `depends=`) first; ext4 asks the crypto API for crc32c on mount.
const LOADER_MODULES: &[&str] = &[
    "drivers/block/xen-blkfront.ko",
    "lib/crc16.ko",
    "fs/mbcache.ko",
    "fs/jbd2/jbd2.ko",
    "crypto/crc32c_generic.ko",
    "fs/ext4/ext4.ko",
    // The vchan client's devices (/dev/xen/gntdev, /dev/xen/evtchn); they stay loaded
    // after the switch to the image's root.
    "drivers/xen/xen-evtchn.ko",
    "drivers/xen/xen-gntdev.ko",
];

/// Busybox applets the image's init calls (links in the tree: the image is mounted read-only).
const APPLETS: &[&str] = &[
    "sh", "mount", "grep", "cut", "tr", "wc", "sleep", "poweroff",
];

/// The image spec: the Qubes template layout (ESP, BIOS boot, ext4 root to the end),
/// sized by `guess`, without a journal (a one-shot read-only root needs none); `add`
/// unpacks tarballs over the root, as a template maintainer adds the guest bundle.
fn spec_text(name: &str, add: &[PathBuf]) -> String {
    let add: Vec<String> = add
        .iter()
        .map(|p| format!("{:?}", p.to_string_lossy()))
        .collect();
    format!(
        r#"name = "{name}"
type = "qubes-template"
size = "guess"
volatile-root = true
root = {{ directory = "tree", add = [{}] }}

[qubes]
virt-mode = "pv"
"#,
        add.join(", ")
    )
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(E2eError::io(parent))?;
    }
    fs::copy(from, to).map_err(E2eError::io(from))?;
    Ok(())
}

/// Writes the image's root tree under `tree`. With the guest bundle, the tree gets none of
/// the host's libxen* (the programs load the bundle's) and the libraries of the bundle's `xs`.
fn tree(programs: &[Program], bundle: Option<&GuestBundle>, tree: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(tree);
    for d in ["proc", "sys", "dev", "tmp", "sbin", "bin"] {
        fs::create_dir_all(tree.join(d)).map_err(E2eError::io(tree.join(d)))?;
    }
    copy(Path::new("/bin/busybox"), &tree.join("bin/busybox"))?;
    for a in APPLETS {
        let link = tree.join("bin").join(a);
        std::os::unix::fs::symlink("busybox", &link).map_err(E2eError::io(&link))?;
    }
    let init = tree.join("sbin/init");
    fs::write(&init, IMAGE_INIT).map_err(E2eError::io(&init))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).map_err(E2eError::io(&init))?;
    let mut elves = Vec::new();
    for p in programs {
        let rel = format!("{}/{}", vm::BIN_DIR.trim_start_matches('/'), p.name);
        copy(&p.path, &tree.join(rel))?;
        elves.push(p.path.clone());
    }
    if let Some(b) = bundle {
        elves.push(b.xs.clone());
    }
    // Host libraries at their host paths, as the programs' loader looks for them.
    for lib in libs::resolve(&elves, &[])? {
        let from_bundle = lib
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libxen"));
        if bundle.is_some() && from_bundle {
            continue;
        }
        let rel = lib.strip_prefix("/").unwrap_or(&lib);
        copy(&lib, &tree.join(rel))?;
    }
    Ok(())
}

/// The built template: its `root.img.part.NN` pieces, in order, and the disk size.
pub struct Template {
    pub parts: Vec<PathBuf>,
    pub disk_bytes: u64,
}

/// Builds the image in `dir` (tree, spec with the bundle as `root.add`, output).
pub fn build_template(
    programs: &[Program],
    bundle: Option<&GuestBundle>,
    dir: &Path,
) -> Result<Template> {
    fs::create_dir_all(dir).map_err(E2eError::io(dir))?;
    tree(programs, bundle, &dir.join("tree"))?;
    let spec_path = dir.join("image.toml");
    let add: Vec<PathBuf> = bundle.iter().map(|b| b.tarball.clone()).collect();
    let text = spec_text(vm::IMAGE_NAME, &add);
    fs::write(&spec_path, &text).map_err(E2eError::io(&spec_path))?;
    let spec = images::ImageSpec::load(&spec_path)?;
    let out = dir.join("out");
    let _ = fs::remove_dir_all(&out);
    let report = images::build(&spec, &out, &images::BuildOptions::default())?;
    tracing::info!(
        content_kib = report.content_bytes >> 10,
        "e2e template built"
    );
    let mut parts: Vec<PathBuf> = report
        .files
        .iter()
        .filter(|f| f.to_string_lossy().starts_with("root.img.part."))
        .map(|f| out.join(f))
        .collect();
    parts.sort();
    if parts.is_empty() {
        return Err(E2eError::Staging {
            what: format!(
                "{}: the qubes-template build listed no root.img.part.NN",
                out.display()
            ),
        });
    }
    Ok(Template {
        parts,
        disk_bytes: report.layout.map_or(0, |l| l.disk_size),
    })
}

/// The loader initramfs: busybox, the block and ext4 modules, its init.
pub fn loader(staged: &Staged, out: &Path) -> Result<u64> {
    let mut a = Archive::new();
    super::rootfs::base(&mut a, LOADER_INIT)?;
    let kmods = staged
        .root
        .join("lib/modules")
        .join(&staged.kernel_release)
        .join("kernel");
    let mut order = String::new();
    for m in LOADER_MODULES {
        let name = Path::new(m)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        a.file(&format!("modules/{name}"), &kmods.join(m))?;
        order += &name;
        order.push('\n');
    }
    a.bytes("modules/order", order, 0o644);
    a.write_to(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_prints_the_marker_dom0_looks_for() {
        assert!(IMAGE_INIT.contains(&format!("echo \"{} name=", vm::IMAGE_MARKER)));
    }

    /// The init runs the bundle's `xs` and the vchan client where the harness puts them, at
    /// the path dom0 serves.
    #[test]
    fn the_init_uses_the_bundle_paths_dom0_and_the_harness_use() {
        assert!(IMAGE_INIT.contains(&format!("[ -x {} ] && xs={}", vm::BUNDLE_XS, vm::BUNDLE_XS)));
        assert!(IMAGE_INIT.contains(&format!("[ -x {} ]", vm::VCHAN_CLIENT)));
        assert!(vm::VCHAN_CLIENT.starts_with(vm::BIN_DIR));
        assert!(IMAGE_INIT.contains(&format!(
            "/local/domain/$domid/{}",
            crate::inside::vchan::PATH_IN_HOME
        )));
        assert!(vm::BUNDLE_XS.starts_with(vm::BUNDLE_CURRENT));
        assert!(IMAGE_INIT.contains(&format!("for r in {}; do", vm::BENCH_ROUNDS.join(" "))));
        assert!(IMAGE_INIT.contains(&format!("echo \"{}$out\"", vm::BENCH_MARKER)));
        assert!(vm::BUNDLE_LIB.starts_with(vm::BUNDLE_CURRENT));
    }

    #[test]
    fn loader_modules_come_after_their_dependencies() {
        let pos = |m: &str| LOADER_MODULES.iter().position(|x| x.ends_with(m)).unwrap();
        for dep in ["/crc16.ko", "/mbcache.ko", "/jbd2.ko", "/crc32c_generic.ko"] {
            assert!(pos(dep) < pos("/ext4.ko"), "{dep}");
        }
    }

    /// The spec is one the images crate accepts; its root is the layout's third partition
    /// (the guest's root device).
    #[test]
    fn the_spec_is_a_template_rooted_on_partition_3() {
        let spec = images::ImageSpec::parse(
            &spec_text("t", &[PathBuf::from("/b/bundle.tar.gz")]),
            Path::new("t.toml"),
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(spec.partitions.len(), 3);
        assert!(spec.partitions[2].root);
        assert!(vm::IMAGE_ROOT_DEV.ends_with('3'));
        assert_eq!(
            spec.root,
            images::spec::RootContent::Directory("/x/tree".into())
        );
        assert_eq!(spec.add, [PathBuf::from("/b/bundle.tar.gz")]);
    }
}
