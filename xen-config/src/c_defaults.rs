//! Defaults Qubes' patches change in C code (and one systemd unit), where Kconfig cannot see
//! them. A data table: each entry names the patch (per Qubes release) and the source file it
//! changes.
//!
//! Sources (read through the project's code-search index of public repositories):
//! - the patch files themselves, QubesOS/qubes-vmm-xen at the repository root (the 4.17
//!   numbering is the `release4.2` stream, e.g. tag v4.17.4-5; the 4.19 numbering is `main`,
//!   e.g. tag v4.19.4-9). Each entry below names the commit of the copy that was read.
//! - the patch lists of both tags: `../shared/fixtures/qubes-vmm-xen/<tag>/patches.tsv`,
//!   which the tests check every patch name against.
//! - upstream's side: the Debian xen 4.17.5+72-g01140da4e8 source tree (tests check that
//!   `file` holds `identifier` there).
//!
//! `reason` is the patch's own commit message where it has one; where a patch has none, the
//! field says so instead of guessing.
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CDefault {
    /// What the default controls.
    pub what: &'static str,
    /// Source file the (4.17) patch changes, relative to the Xen source root.
    pub file: &'static str,
    /// Identifier in that file holding the default (checked against real trees in tests).
    pub identifier: &'static str,
    /// When `file` is not in upstream Xen 4.17 at all: the (Qubes tag, patch) that adds it
    /// (a backport). Tests then check the file is absent from the Debian 4.17 tree instead.
    pub file_added_by: Option<(&'static str, &'static str)>,
    pub upstream: &'static str,
    pub qubes: &'static str,
    /// (Qubes vmm-xen tag, patch file) pairs that carry the change.
    pub patches: &'static [(&'static str, &'static str)],
    pub reason: &'static str,
    /// How to get upstream's behaviour back at run time, if there is a way.
    pub override_with: &'static str,
}

pub const C_DEFAULTS: &[CDefault] = &[
    // 1016-gnttab-...patch read at QubesOS/qubes-vmm-xen@94dd4e3d844b: one line,
    // `#define GNTTAB_MAX_VERSION 2` -> `1` in xen/common/grant_table.c. The 4.19 copy
    // (1015-..., read at QubesOS/qubes-vmm-xen@6c35b05e5664) makes the same change. Override: `gnttab=max-ver:<integer>` is documented in
    // docs/misc/xen-command-line.pandoc of the 4.17 tree.
    CDefault {
        what: "maximum grant table version offered to guests",
        file: "xen/common/grant_table.c",
        identifier: "opt_gnttab_max_version",
        file_added_by: None,
        upstream: "2 (GNTTAB_MAX_VERSION)",
        qubes: "1",
        patches: &[
            ("v4.17.4-5", "1016-gnttab-disable-grant-tables-v2-by-default.patch"),
            ("v4.19.4-9", "1015-gnttab-disable-grant-tables-v2-by-default.patch"),
        ],
        reason: "patch message: grant tables v2 \"are not used anywhere, and are significant attack surface\"",
        override_with: "Xen command line gnttab=max-ver:2",
    },
    // 4.17: 0643-...patch read at QubesOS/qubes-vmm-xen@4a97122e26d1 changes
    // xen/arch/x86/acpi/cpufreq/hwp.c, `opt_cpufreq_hwp = false` -> `true` (and the doc line
    // "The default is disabled" -> "enabled"). That file does not exist in upstream 4.17: the
    // HWP driver is Qubes' backport 0634 in the same series.
    // 4.19: 1016-...patch read at QubesOS/qubes-vmm-xen@8ac80e4707e4 changes a different
    // place, xen/drivers/cpufreq/cpufreq.c: `cpufreq_xen_opts` becomes
    // { CPUFREQ_hwp, CPUFREQ_xen } instead of { CPUFREQ_xen }.
    // Neither patch has a commit message, so no reason is recorded. The override is from the
    // 4.17 backport's own message (0634-...patch read at QubesOS/qubes-vmm-xen@4e7bc22554d8,
    // Jason Andryuk): "cpufreq=xen:hwp enables and cpufreq=xen:hwp=0 disables"; without HWP,
    // Intel CPUs get the ACPI cpufreq driver. The 4.19 spelling was not checked.
    CDefault {
        what: "cpufreq driver on Intel CPUs with hardware P-states (HWP)",
        file: "xen/arch/x86/acpi/cpufreq/hwp.c",
        identifier: "opt_cpufreq_hwp",
        file_added_by: Some((
            "v4.17.4-5",
            "0634-cpufreq-Add-Hardware-P-State-HWP-driver.patch",
        )),
        upstream: "HWP off unless asked for on the command line (4.17 has no HWP driver at all)",
        qubes: "HWP on where the hardware supports it",
        patches: &[
            ("v4.17.4-5", "0643-cpufreq-enable-HWP-by-default.patch"),
            ("v4.19.4-9", "1016-cpufreq-enable-HWP-by-default.patch"),
        ],
        reason: "not stated: the patch has no commit message (Xen's docs call HWP \"better CPU power management\")",
        override_with: "Xen command line cpufreq=xen:hwp=0 (4.17 backport syntax; unverified on 4.19)",
    },
    // 0608-...patch read at QubesOS/qubes-vmm-xen@94dd4e3d844b (From: Ross Lagerwall): adds
    // `#undef USE_EFI_GET_TIME` and wraps the efi_get_time() call in get_cmos_time() of
    // xen/arch/x86/time.c in `#ifdef USE_EFI_GET_TIME`. The 4.19 copy (0603-..., read at
    // QubesOS/qubes-vmm-xen@46f1b569646f) is the same change.
    CDefault {
        what: "wallclock source at boot on EFI systems",
        file: "xen/arch/x86/time.c",
        identifier: "get_cmos_time",
        file_added_by: None,
        upstream: "EFI GetTime() runtime service when EFI runtime services are enabled",
        qubes: "CMOS RTC only; EFI GetTime() is compiled out",
        patches: &[
            ("v4.17.4-5", "0608-x86-time-Don-t-use-EFI-s-GetTime-call-by-default.patch"),
            ("v4.19.4-9", "0603-x86-time-Don-t-use-EFI-s-GetTime-call-by-default.patch"),
        ],
        reason: "patch message: EFI's GetTime() \"is broken on many platforms\" (citing Linux, which disabled the EFI RTC on x86 because machines are likely to crash)",
        override_with: "none (build-time: the call is compiled out)",
    },
    // 1019-Use-Linux-s-PAT.patch read at QubesOS/qubes-vmm-xen@09d19e9ce92e (Demi Marie
    // Obenour, posted to xen-devel as v6 5/5): rewrites XEN_MSR_PAT in
    // xen/arch/x86/include/asm/processor.h (slots 1, 4, 6, 7 become WC, WB, UC-, WT), moves
    // _PAGE_WC/_PAGE_WT in asm/page.h, and drops the BUILD_BUG_ON pinning 0x050100070406 in
    // xen/arch/x86/mm.c. It applies on top of the 0301-0309 backports that derive XEN_MSR_PAT
    // from X86_MT_* entries (upstream 4.17 still has the literal). The 4.19 copy
    // (1018-x86-..., read at QubesOS/qubes-vmm-xen@6c35b05e5664) is the same change.
    CDefault {
        what: "page attribute table (PAT) layout",
        file: "xen/arch/x86/include/asm/processor.h",
        identifier: "XEN_MSR_PAT",
        file_added_by: None,
        upstream: "Xen's own PAT, 0x050100070406 (a PV guest ABI)",
        qubes: "Linux's PAT (WB, WC, UC-, UC, WB, WP, UC-, WT)",
        patches: &[
            ("v4.17.4-5", "1019-Use-Linux-s-PAT.patch"),
            ("v4.19.4-9", "1018-x86-Use-Linux-s-PAT.patch"),
        ],
        reason: "patch message: works around drivers with hard-coded assumptions about Linux's PAT; the comment it adds names the proprietary Nvidia driver",
        override_with: "none (build-time)",
    },
    // 1010-...patch read at QubesOS/qubes-vmm-xen@8ac80e4707e4: in
    // libxl__domain_build_info_setdefault, `u.hvm.vkb_device` defaults to false instead of
    // true. xl.cfg's `vkb_device=BOOLEAN` is in docs/man/xl.cfg.5.pod.in of the 4.17 tree.
    CDefault {
        what: "virtual keyboard (vkb) device for HVM guests",
        file: "tools/libs/light/libxl_create.c",
        identifier: "vkb_device",
        file_added_by: None,
        upstream: "added to HVM guests (vkb_device defaults to true)",
        qubes: "not added (vkb_device defaults to false)",
        patches: &[
            ("v4.17.4-5", "1010-libxl-disable-vkb-by-default.patch"),
            ("v4.19.4-9", "1010-libxl-disable-vkb-by-default.patch"),
        ],
        reason: "patch message: \"We have Qubes GUI agent for that.\"",
        override_with: "vkb_device=1 in the domain config",
    },
    // 1011-...patch read at QubesOS/qubes-vmm-xen@1c5eea7c8ab0: XEN_DOMCTL_createdomain in
    // xen/common/domctl.c starts `rover` at 1 and hands out rover++, refuses a caller-chosen
    // domid with -EINVAL, and fails with -ENOMEM ("reboot the system") once the ids run out.
    CDefault {
        what: "domain id allocation",
        file: "xen/common/domctl.c",
        identifier: "rover",
        file_added_by: None,
        upstream: "caller may pick a free domid; otherwise the next free id after the last one, wrapping round to 1 and reusing freed ids",
        qubes: "sequential from 1, never reused, caller-chosen ids refused; creation fails once ids run out",
        patches: &[
            ("v4.17.4-5", "1011-Always-allocate-domid-sequentially-and-do-not-reuse-.patch"),
            ("v4.19.4-9", "1011-Always-allocate-domid-sequentially-and-do-not-reuse-.patch"),
        ],
        reason: "patch message: domid wrap-around is unlikely on Qubes, but is ruled out \"to avoid various corner cases\"",
        override_with: "none",
    },
    // 1006-...patch read at QubesOS/qubes-vmm-xen@1c5eea7c8ab0: in
    // libxl__build_device_model_args_new (tools/libs/light/libxl_dm.c), the `usb`/
    // `usbdevice` path passes `-device usb-ehci,id=ehci` and puts each device on bus ehci.0,
    // where upstream passes `-usb` (QEMU's default controller) and `-usbdevice`. The separate
    // `usbversion` path is untouched, so it is not a way back to `-usb`.
    CDefault {
        what: "USB controller for usb=1 / usbdevice= (e.g. the emulated tablet)",
        file: "tools/libs/light/libxl_dm.c",
        identifier: "\"-usb\"",
        file_added_by: None,
        upstream: "-usb (QEMU's default USB controller) with -usbdevice",
        qubes: "an EHCI controller (-device usb-ehci) with the devices on its bus",
        patches: &[
            ("v4.17.4-5", "1006-libxl-use-EHCI-for-providing-tablet-USB-device.patch"),
            ("v4.19.4-9", "1006-libxl-use-EHCI-for-providing-tablet-USB-device.patch"),
        ],
        reason: "patch message: Linux guests do not enable USB autosuspend for QEMU's emulated UHCI, which raises idle CPU usage; they do for EHCI",
        override_with: "none (build-time)",
    },
    // 1004-...patch read at QubesOS/qubes-vmm-xen@8ac80e4707e4: the unit's
    // `Environment=XENCONSOLED_TRACE=none` becomes `all` and XENCONSOLED_ARGS becomes
    // "--replace-escape --timestamp=all" (--replace-escape comes from Qubes' 1009 patch).
    // The unit reads `EnvironmentFile=-@CONFIG_DIR@/@CONFIG_LEAF_DIR@/xencommons` after those
    // lines, so that file overrides them. The patch has no commit message.
    CDefault {
        what: "guest console logging by xenconsoled",
        file: "tools/hotplug/Linux/systemd/xenconsoled.service.in",
        identifier: "XENCONSOLED_TRACE=none",
        file_added_by: None,
        upstream: "XENCONSOLED_TRACE=none, no extra arguments",
        qubes: "XENCONSOLED_TRACE=all, XENCONSOLED_ARGS=\"--replace-escape --timestamp=all\"",
        patches: &[
            ("v4.17.4-5", "1004-systemd-enable-xenconsoled-logging-by-default.patch"),
            ("v4.19.4-9", "1004-systemd-enable-xenconsoled-logging-by-default.patch"),
        ],
        reason: "not stated: the patch has no commit message",
        override_with: "XENCONSOLED_TRACE=none in the xencommons file (the unit's EnvironmentFile)",
    },
];
