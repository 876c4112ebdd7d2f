//! Where things are inside the VM: shared by the harness that builds the
//! initramfs and the programs that run there, so both sides agree by construction.

/// Our programs in dom0 (and in the domU's own initramfs).
pub const BIN_DIR: &str = "/qxk/bin";
/// The domU's kernel and initramfs, inside dom0's initramfs.
pub const DOMU_KERNEL: &str = "/qxk/domu/vmlinuz";
pub const DOMU_INITRD: &str = "/qxk/domu/initrd.cpio";
/// Name `xl create` gives the test domU; its console log is `guest-<name>.log`.
pub const DOMU_NAME: &str = "qxk-domu";
/// xenconsoled's log folder (dom0 starts it with `--log=guest --log-dir=` this).
pub const CONSOLE_LOG_DIR: &str = "/var/log/xen";
/// Under the domU's home, the part the guest may write (libxl grants `data/`).
pub const DOMU_DATA: &str = "data/qxk";
/// The xenstore daemons the checks run against, in order.
pub const XENSTORED_C: &str = "xenstored";
pub const XENSTORED_OCAML: &str = "oxenstored";
/// Memory of the VM, of dom0 and of the test domU, in MiB; the checks compare
/// what Xen reports against these.
pub const VM_MEM_MIB: u64 = 2048;
pub const DOM0_MEM_MIB: u64 = 512;
pub const DOMU_MEM_MIB: u64 = 128;
pub const VM_CPUS: u32 = 2;
/// The domU's watch handshakes, one per xenstore client it tests: it writes
/// `ready-<tag>` = nonce under [`DOMU_DATA`], dom0 answers `ping-<tag>` = `ack-<nonce>`.
pub const DOMU_WATCH_TAGS: &[&str] = &["libxenstore", "client"];

/// The disk image check: a Qubes template built on the host by the `images` crate,
/// unpacked in dom0 and booted as a second PV domU (the loader initramfs mounts its
/// root partition).
pub const IMAGE_NAME: &str = "qxk-e2e-image";
/// Where the template's `root.img.part.NN` are in dom0.
pub const IMAGE_PARTS_DIR: &str = "/qxk/image";
/// GNU tar in dom0 (before busybox's on PATH).
pub const GNU_TAR: &str = "/qxk/bin/tar";
/// Where dom0 unpacks `root.img` (a tmpfs, so it stays sparse).
pub const IMAGE_UNPACK_DIR: &str = "/tmp/qxk-image";
pub const IMAGE_LOADER: &str = "/qxk/image/loader.cpio";
/// libxl's `script=` for the image's vbd (the loop device's major:minor to blkback).
pub const IMAGE_HOTPLUG: &str = "/qxk/image/block-hotplug";
/// Prefix of the image domU's name (dom0 appends a nonce), which it reads back from xenstore.
pub const IMAGE_DOMU_NAME: &str = "qxk-image";
/// Its root partition as the guest sees it (p3 "Root filesystem" of the Qubes layout).
pub const IMAGE_ROOT_DEV: &str = "/dev/xvda3";
/// Start of the console line the image's init prints: `name=<xs read name> rc=<exit> root=<dev> uptime=<s>`.
pub const IMAGE_MARKER: &str = "QXK-IMAGE-GUEST";
/// Kernel modules (under `lib/modules/<release>/kernel/`) dom0 needs to serve the disk.
pub const IMAGE_DOM0_MODULES: &[&str] = &[
    "drivers/block/loop.ko",
    "drivers/block/xen-blkback/xen-blkback.ko",
];

/// What a Qubes build's boot must show, written by the host into dom0's initramfs (absent
/// when Debian's Xen boots): the config the hypervisor was built with (xen-config's
/// olddefconfig of Qubes' config for the tree), the pinned Xen version and the build user.
pub const EXPECTED_DIR: &str = "/qxk/expected";
pub const EXPECTED_CONFIG: &str = "/qxk/expected/config";
pub const EXPECTED_VERSION: &str = "/qxk/expected/version";
pub const EXPECTED_BUILD_USER: &str = "/qxk/expected/build-user";

/// The guest bundle's proof (issue 15), in a Qubes build's boot: present in dom0 when the
/// template carries the bundle, holding the bundle's `<version>-<rel>`.
pub const BUNDLE_VERSION_FILE: &str = "/qxk/expected/bundle-version";
/// Where the bundle lives in the template (its `current` link).
pub const BUNDLE_CURRENT: &str = "/opt/qubes-xen/current";
/// The bundle's `xs`, which the template's init uses when present.
pub const BUNDLE_XS: &str = "/opt/qubes-xen/current/bin/xs";
/// The template's vchan client, linked with RUNPATH [`BUNDLE_LIB`].
pub const VCHAN_CLIENT: &str = "/qxk/bin/e2e-vchan";
pub const BUNDLE_LIB: &str = "/opt/qubes-xen/current/lib";
/// Start of the console line the vchan client prints (see `inside::vchan`).
pub const VCHAN_MARKER: &str = "QXK-VCHAN-GUEST";
/// With the benchmark (scripts/bench-vchan.sh): present in dom0; the C `vchan-node1` of the
/// built tree is in dom0 and in the template.
pub const BENCH_VCHAN_FILE: &str = "/qxk/expected/bench-vchan";
/// Start of the console line with the benchmark's figures (guest uptimes, in seconds).
pub const BENCH_MARKER: &str = "QXK-VCHAN-BENCH";
/// The benchmark's rounds, in order (`c`: the C vchan-node1, `rs`: ours), alternated so
/// that a burst of load on the shared host hits both alike.
pub const BENCH_ROUNDS: &[&str] = &["c1", "rs1", "c2", "rs2", "c3", "rs3"];
