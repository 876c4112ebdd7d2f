//! Finds the Xen toolstack (see build/discover.rs), generates bindings for the
//! enabled libraries in one bindgen run (so shared types such as
//! `xentoollog_logger` exist once), compiles C wrappers for `static inline`
//! functions, and emits version cfgs (`xen_4_NN` = "Xen is at least 4.NN").

#[path = "build/discover.rs"]
mod discover;
#[path = "build/libraries.rs"]
mod libraries;

use std::fmt::Write as _;
use std::path::PathBuf;

/// Oldest and newest minor versions for which a cfg is declared.
const CFG_MINORS: std::ops::RangeInclusive<u32> = 13..=30;

fn main() {
    if let Err(discover::DiscoveryError(message)) = run() {
        // One clear message, no backtrace noise.
        eprintln!("error: xen-sys: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), discover::DiscoveryError> {
    for minor in CFG_MINORS {
        println!("cargo:rustc-check-cfg=cfg(xen_4_{minor})");
    }
    println!("cargo:rerun-if-changed=build/discover.rs");
    println!("cargo:rerun-if-changed=build/libraries.rs");

    let libs = libraries::enabled();
    if libs.is_empty() {
        return Err(discover::DiscoveryError(
            "no library feature enabled; enable at least one of xenctrl, xenlight, xenstore, \
             xengnttab, xenevtchn, xentoollog, xenvchan"
                .into(),
        ));
    }
    let toolstack = discover::discover(&libs)?;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let wrapper = out.join("xen-sys-wrapper.h");
    let mut header = String::new();
    for lib in &libs {
        for h in lib.headers {
            let _ = writeln!(header, "#include <{h}>");
        }
    }
    if libs.iter().any(|l| l.feature == "xentoollog") {
        header.push_str("#include <stdio.h>\n");
    }
    std::fs::write(&wrapper, header).map_err(|e| {
        discover::DiscoveryError(format!("cannot write {}: {e}", wrapper.display()))
    })?;

    let include_args: Vec<String> = toolstack
        .include_dirs
        .iter()
        .map(|d| format!("-I{}", d.display()))
        .collect();
    let wrappers_c = out.join("static_wrappers");
    let mut builder = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_args(&include_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(true)
        // C comments hold indented text that rustdoc would run as doctests.
        .generate_comments(false)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers_c);
    for lib in &libs {
        builder = builder
            .allowlist_function(lib.functions)
            .allowlist_type(lib.types)
            .allowlist_var(lib.vars);
    }
    // A wrapper file from an earlier run must not outlive the functions it wrapped.
    let _ = std::fs::remove_file(wrappers_c.with_extension("c"));
    let bindings = builder.generate().map_err(|e| {
        discover::DiscoveryError(format!(
            "bindgen failed on the headers from {} ({e}); are they complete?",
            toolstack.origin
        ))
    })?;
    bindings
        .write_to_file(out.join("bindings.rs"))
        .map_err(|e| discover::DiscoveryError(format!("cannot write bindings: {e}")))?;

    // The static-inline wrappers must be linked before the libraries they call. bindgen
    // writes no file when the enabled headers have none (only libxl's do).
    let wrappers_c = wrappers_c.with_extension("c");
    if wrappers_c.exists() {
        let mut cc = cc::Build::new();
        cc.file(&wrappers_c)
            .include(&out)
            .includes(&toolstack.include_dirs)
            .warnings(false);
        cc.try_compile("xen_sys_static_wrappers").map_err(|e| {
            discover::DiscoveryError(format!("compiling static-inline wrappers failed: {e}"))
        })?;
    }

    for link in &toolstack.links {
        for dir in &link.search_dirs {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        println!("cargo:rustc-link-lib=dylib={}", link.name);
    }

    let v = toolstack.version;
    for minor in CFG_MINORS {
        if v.major > 4 || (v.major == 4 && v.minor >= minor) {
            println!("cargo:rustc-cfg=xen_4_{minor}");
        }
    }
    // For dependents' build scripts: DEP_QUBES_XEN_KIT_XEN_VERSION / _INCLUDE.
    println!("cargo:version={v}");
    let joined = std::env::join_paths(&toolstack.include_dirs)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!("cargo:include={joined}");
    std::fs::write(
        out.join("xen_version.rs"),
        format!(
            "/// Xen version of the headers these bindings were generated from.\n\
             pub const XEN_VERSION: (u32, u32, u32) = ({}, {}, {});\n\
             /// Where the headers came from (pkg-config, XEN_SYS_SOURCE=..., ...).\n\
             pub const XEN_ORIGIN: &str = {:?};\n\
             /// Include directories the bindings were generated with, in order.\n\
             pub const XEN_INCLUDE_DIRS: &[&str] = &{:?};\n",
            v.major,
            v.minor,
            v.patch,
            toolstack.origin,
            toolstack
                .include_dirs
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        ),
    )
    .map_err(|e| discover::DiscoveryError(format!("cannot write xen_version.rs: {e}")))?;
    Ok(())
}
