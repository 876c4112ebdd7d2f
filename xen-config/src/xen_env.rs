//! The environment Xen's `make` gives kconfig's `conf` (xen/Makefile, Config.mk,
//! config/StdGNU.mk): ARCH/SRCARCH from XEN_TARGET_ARCH, CC/LD, srctree, XEN_FULLVERSION,
//! and the two make-level probes XEN_HAS_CHECKPOLICY and XEN_HAS_BUILD_ID.
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::probe::ShellProbe;

/// What to evaluate a Xen tree for.
#[derive(Debug, Clone)]
pub struct XenTarget {
    /// XEN_TARGET_ARCH (`x86_64`, `arm64`, ...).
    pub arch: String,
    /// Compiler and linker commands (`gcc`/`ld` unless cross-compiling or using clang).
    pub cc: String,
    pub ld: String,
    /// XEN_VENDORVERSION appended to the version (empty for upstream builds).
    pub vendor_version: String,
}

impl Default for XenTarget {
    fn default() -> Self {
        XenTarget {
            arch: "x86_64".into(),
            cc: "gcc".into(),
            ld: "ld".into(),
            vendor_version: String::new(),
        }
    }
}

/// `SRCARCH` as xen/Makefile derives it from ARCH.
pub fn srcarch(arch: &str) -> String {
    if arch.starts_with("x86") {
        "x86".into()
    } else if arch == "arm32" || arch == "arm64" {
        "arm".into()
    } else if arch.starts_with("riscv") {
        "riscv".into()
    } else {
        arch.into()
    }
}

/// Reads `XEN_VERSION`, `XEN_SUBVERSION` and `XEN_EXTRAVERSION` from `xen/Makefile`.
pub fn xen_version(xen_dir: &Path, vendor_version: &str) -> Result<String> {
    let path = xen_dir.join("Makefile");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let get = |key: &str| -> Option<String> {
        text.lines().find_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
            let rest = l.strip_prefix(key)?;
            let rest = rest.trim_start();
            let val = rest
                .strip_prefix("?=")
                .or_else(|| rest.strip_prefix(":="))
                .or_else(|| rest.strip_prefix('='))?;
            Some(val.trim().to_string())
        })
    };
    let missing = |what: &str| Error::Kconfig {
        file: path.display().to_string(),
        line: 0,
        msg: format!("no {what} assignment found; is this Xen's xen/ directory?"),
    };
    let v = get("XEN_VERSION").ok_or_else(|| missing("XEN_VERSION"))?;
    let s = get("XEN_SUBVERSION").ok_or_else(|| missing("XEN_SUBVERSION"))?;
    let e = get("XEN_EXTRAVERSION").unwrap_or_default();
    let e = e.replace("$(XEN_VENDORVERSION)", vendor_version);
    Ok(format!("{v}.{s}{e}"))
}

/// The environment `conf` sees when `make -C xen olddefconfig` runs for `target`.
pub fn xen_env(
    xen_dir: &Path,
    target: &XenTarget,
    shell: &mut dyn ShellProbe,
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    env.insert("ARCH".into(), target.arch.clone());
    env.insert("SRCARCH".into(), srcarch(&target.arch));
    env.insert("CC".into(), target.cc.clone());
    env.insert("LD".into(), target.ld.clone());
    env.insert("srctree".into(), ".".into());
    env.insert(
        "XEN_FULLVERSION".into(),
        xen_version(xen_dir, &target.vendor_version)?,
    );
    let probe = |shell: &mut dyn ShellProbe, cmd: &str| -> Result<String> {
        let out = shell.run(cmd).map_err(|msg| Error::Shell {
            file: "xen/Makefile".into(),
            line: 0,
            cmd: cmd.into(),
            msg,
        })?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    };
    // Config.mk: `$(call success,$(CHECKPOLICY) -h 2>&1 | grep -q xen)`.
    let cp = probe(
        shell,
        "{ checkpolicy -h 2>&1 | grep -q xen; } >/dev/null 2>&1 && echo y || echo n",
    )?;
    env.insert("XEN_HAS_CHECKPOLICY".into(), cp);
    // Config.mk: XEN_HAS_BUILD_ID is y unless `$(LD) --build-id` complains about build-id.
    let bid = probe(
        shell,
        &format!(
            "{} --build-id 2>&1 | grep -q build-id && echo n || echo y",
            target.ld
        ),
    )?;
    env.insert("XEN_HAS_BUILD_ID".into(), bid);
    if target.cc.contains("clang") {
        env.insert(
            "CLANG_FLAGS".into(),
            "-Werror=unknown-warning-option".into(),
        );
    }
    Ok(env)
}
