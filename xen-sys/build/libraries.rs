//! The Xen toolstack libraries xen-sys can bind, one per Cargo feature.

/// One library: how to find it and which of its names belong in the bindings.
pub struct Library {
    /// Cargo feature that enables it (also the name passed to `-l`).
    pub feature: &'static str,
    /// pkg-config module name.
    pub pkg_config: &'static str,
    /// Headers to include, in order.
    pub headers: &'static [&'static str],
    /// Directories below a Xen source tree that hold its headers (besides tools/include).
    pub source_include_dirs: &'static [&'static str],
    /// Directory below a Xen source tree where the built library would be.
    pub source_lib_dir: &'static str,
    /// Regexes for functions, types and variables (macros) to keep: allowlists by prefix.
    pub functions: &'static str,
    pub types: &'static str,
    pub vars: &'static str,
}

pub const LIBRARIES: &[Library] = &[
    Library {
        feature: "xentoollog",
        pkg_config: "xentoollog",
        headers: &["xentoollog.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/toollog",
        // vsnprintf: the quiet logger formats messages with the platform's own va_list type.
        functions: "xtl_.*|xentoollog_.*|vsnprintf",
        types: "xentoollog_.*|xtl_.*",
        vars: "XTL_.*",
    },
    Library {
        feature: "xenctrl",
        pkg_config: "xencontrol",
        headers: &["xenctrl.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/ctrl",
        functions: "xc_.*",
        types: "xc_.*|xen_.*",
        vars: "XC_.*|XEN_.*|XENVER_.*|DOMID_.*|XENMEM_.*|HVM_PARAM_.*|XEN_DOMINF_.*",
    },
    Library {
        feature: "xenstore",
        pkg_config: "xenstore",
        headers: &["xenstore.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/store",
        functions: "xs_.*",
        types: "xs_.*|xsd_.*",
        vars: "XS_.*|XENSTORE_.*",
    },
    Library {
        feature: "xengnttab",
        pkg_config: "xengnttab",
        headers: &["xengnttab.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/gnttab",
        functions: "xengnttab_.*|xengntshr_.*",
        types: "xengnttab_.*|xengntshr_.*|grant_ref_t",
        vars: "XENGNTTAB_.*",
    },
    Library {
        feature: "xenevtchn",
        pkg_config: "xenevtchn",
        headers: &["xenevtchn.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/evtchn",
        functions: "xenevtchn_.*",
        types: "xenevtchn_.*|evtchn_port_t",
        vars: "XENEVTCHN_.*",
    },
    Library {
        feature: "xenlight",
        pkg_config: "xenlight",
        // Never libxl_json.h: it needs yajl's headers, and nothing here needs it.
        headers: &["libxl.h", "libxl_utils.h"],
        source_include_dirs: &["tools/libs/light"],
        source_lib_dir: "tools/libs/light",
        functions: "libxl_.*",
        types: "libxl_.*",
        vars: "LIBXL_.*",
    },
    Library {
        feature: "xenvchan",
        pkg_config: "xenvchan",
        // Includes xengnttab.h and xenevtchn.h itself: the feature pulls those libraries in.
        headers: &["libxenvchan.h"],
        source_include_dirs: &[],
        source_lib_dir: "tools/libs/vchan",
        functions: "libxenvchan_.*",
        // The shared-page layout (xen/io/libxenvchan.h) comes along with the handle struct.
        types: "libxenvchan.*|vchan_interface|ring_shared",
        vars: "VCHAN_.*",
    },
];

/// The libraries whose Cargo feature is on.
pub fn enabled() -> Vec<&'static Library> {
    LIBRARIES
        .iter()
        .filter(|lib| {
            let var = format!("CARGO_FEATURE_{}", lib.feature.to_uppercase());
            std::env::var_os(var).is_some()
        })
        .collect()
}
