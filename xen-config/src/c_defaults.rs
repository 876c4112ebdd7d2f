//! Defaults Qubes' patches change in C code, where Kconfig cannot see them. A data table:
//! each entry names the patch (per Qubes release) and the source file it changes.
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CDefault {
    /// What the default controls.
    pub what: &'static str,
    /// Source file the patch changes, relative to the Xen source root.
    pub file: &'static str,
    /// Identifier in that file holding the default (checked against real trees in tests).
    pub identifier: &'static str,
    pub upstream: &'static str,
    pub qubes: &'static str,
    /// (Qubes vmm-xen tag, patch file) pairs that carry the change.
    pub patches: &'static [(&'static str, &'static str)],
    pub reason: &'static str,
    /// How to get upstream's behaviour back at run time, if there is a way.
    pub override_with: &'static str,
}

pub const C_DEFAULTS: &[CDefault] = &[
    CDefault {
        what: "maximum grant table version offered to guests",
        file: "xen/common/grant_table.c",
        identifier: "opt_gnttab_max_version",
        upstream: "2 (GNTTAB_MAX_VERSION)",
        qubes: "1",
        patches: &[
            ("v4.17.4-5", "1016-gnttab-disable-grant-tables-v2-by-default.patch"),
            ("v4.19.4-9", "1015-gnttab-disable-grant-tables-v2-by-default.patch"),
        ],
        reason: "grant tables v2 are a large, rarely used interface with a history of security advisories; Qubes guests only need v1",
        override_with: "Xen command line gnttab=max-ver:2",
    },
    CDefault {
        what: "cpufreq driver on Intel CPUs with hardware P-states",
        file: "xen/drivers/cpufreq/cpufreq.c",
        identifier: "cpufreq_cmdline_parse",
        upstream: "ACPI P-state driver unless cpufreq=hwp is given",
        qubes: "HWP driver when the CPU has it",
        patches: &[
            ("v4.17.4-5", "0643-cpufreq-enable-HWP-by-default.patch"),
            ("v4.19.4-9", "1016-cpufreq-enable-HWP-by-default.patch"),
        ],
        reason: "hardware-managed P-states save power on the laptops Qubes targets",
        override_with: "Xen command line cpufreq=xen",
    },
    CDefault {
        what: "wallclock source at boot on EFI systems",
        file: "xen/arch/x86/time.c",
        identifier: "get_wallclock_time",
        upstream: "EFI GetTime() runtime service",
        qubes: "CMOS RTC, not EFI GetTime()",
        patches: &[("v4.17.4-5", "0608-x86-time-Don-t-use-EFI-s-GetTime-call-by-default.patch")],
        reason: "buggy firmware crashes or hangs in GetTime(); the CMOS clock is reliable",
        override_with: "none (build-time)",
    },
    CDefault {
        what: "page attribute table (PAT) layout",
        file: "xen/arch/x86/include/asm/processor.h",
        identifier: "XEN_MSR_PAT",
        upstream: "Xen's own PAT layout",
        qubes: "Linux's PAT layout",
        patches: &[
            ("v4.17.4-5", "1019-Use-Linux-s-PAT.patch"),
            ("v4.19.4-9", "1018-x86-Use-Linux-s-PAT.patch"),
        ],
        reason: "Linux PV guests (dom0's GPU drivers) assume Linux's PAT; mismatches corrupt caching attributes",
        override_with: "none (build-time)",
    },
    CDefault {
        what: "virtual keyboard (vkb) device for guests",
        file: "tools/libs/light/libxl_create.c",
        identifier: "vkb",
        upstream: "added to HVM guests",
        qubes: "not added",
        patches: &[
            ("v4.17.4-5", "1010-libxl-disable-vkb-by-default.patch"),
            ("v4.19.4-9", "1010-libxl-disable-vkb-by-default.patch"),
        ],
        reason: "input reaches qubes through Qubes' GUI protocol; an unused backend is attack surface",
        override_with: "vkb=[...] in the domain config",
    },
    CDefault {
        what: "domain id allocation",
        file: "xen/common/domctl.c",
        identifier: "rover",
        upstream: "next free id after the last one, wrapping round to reuse freed ids",
        qubes: "sequential, never reused",
        patches: &[
            ("v4.17.4-5", "1011-Always-allocate-domid-sequentially-and-do-not-reuse-.patch"),
            ("v4.19.4-9", "1011-Always-allocate-domid-sequentially-and-do-not-reuse-.patch"),
        ],
        reason: "a stale reference to a dead qube's domid must never reach a new qube",
        override_with: "none",
    },
    CDefault {
        what: "USB controller of the emulated tablet",
        file: "tools/libs/light/libxl_dm.c",
        identifier: "usb",
        upstream: "default (UHCI) controller",
        qubes: "EHCI",
        patches: &[
            ("v4.17.4-5", "1006-libxl-use-EHCI-for-providing-tablet-USB-device.patch"),
            ("v4.19.4-9", "1006-libxl-use-EHCI-for-providing-tablet-USB-device.patch"),
        ],
        reason: "UHCI polling wakes the CPU constantly in HVM qubes",
        override_with: "usbversion in the domain config",
    },
    CDefault {
        what: "guest console logging by xenconsoled",
        file: "tools/hotplug/Linux/systemd/xenconsoled.service.in",
        identifier: "xenconsoled",
        upstream: "off",
        qubes: "on (guest console logs kept)",
        patches: &[
            ("v4.17.4-5", "1004-systemd-enable-xenconsoled-logging-by-default.patch"),
            ("v4.19.4-9", "1004-systemd-enable-xenconsoled-logging-by-default.patch"),
        ],
        reason: "console logs are how a qube that fails to boot is diagnosed",
        override_with: "XENCONSOLED_ARGS in the sysconfig file",
    },
];
