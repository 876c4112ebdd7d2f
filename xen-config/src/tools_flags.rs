//! The tools `configure` flags each distribution passes, checked against the flags the
//! tree's own `configure.ac` files (and `m4/`) define: unknown flags, flags that only restate
//! the default, and defaults that changed between two trees.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// A flag the tree's configure scripts know.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KnownFlag {
    /// `enable` or `with`.
    pub kind: &'static str,
    pub name: String,
    /// For `enable` flags declared with a default: whether it is enabled by default.
    pub default_enabled: Option<bool>,
    /// `file:line` of the declaration.
    pub declared_at: String,
}

/// Flags every autoconf configure accepts.
const AUTOCONF_BUILTIN: &[&str] = &[
    "prefix",
    "exec-prefix",
    "bindir",
    "sbindir",
    "libexecdir",
    "sysconfdir",
    "sharedstatedir",
    "localstatedir",
    "runstatedir",
    "libdir",
    "includedir",
    "oldincludedir",
    "datarootdir",
    "datadir",
    "infodir",
    "localedir",
    "mandir",
    "docdir",
    "htmldir",
    "dvidir",
    "pdfdir",
    "psdir",
    "build",
    "host",
    "target",
    "program-prefix",
    "program-suffix",
    "program-transform-name",
    "srcdir",
    "cache-file",
    "option-checking",
    "silent-rules",
    "dependency-tracking",
];

const DECLARATIONS: &[(&str, &str, Option<bool>)] = &[
    ("AX_ARG_DEFAULT_ENABLE", "enable", Some(true)),
    ("AX_ARG_DEFAULT_DISABLE", "enable", Some(false)),
    ("AX_SUBSYSTEM_DEFAULT_ENABLE", "enable", Some(true)),
    ("AX_SUBSYSTEM_DEFAULT_DISABLE", "enable", Some(false)),
    ("AX_SUBSYSTEM_CONDITIONAL", "enable", None),
    ("AX_STUBDOM_DEFAULT_ENABLE", "enable", Some(true)),
    ("AX_STUBDOM_DEFAULT_DISABLE", "enable", Some(false)),
    ("AX_STUBDOM_CONDITIONAL", "enable", None),
    ("AC_ARG_ENABLE", "enable", None),
    ("AC_ARG_WITH", "with", None),
];

/// Scans `configure.ac`, `tools/configure.ac`, `stubdom/configure.ac`, `docs/configure.ac`
/// and `m4/*.m4` of a Xen source tree.
pub fn scan_configure(source_root: &Path) -> Result<BTreeMap<String, KnownFlag>> {
    let mut files: Vec<String> = [
        "configure.ac",
        "tools/configure.ac",
        "stubdom/configure.ac",
        "docs/configure.ac",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let m4 = source_root.join("m4");
    let entries = std::fs::read_dir(&m4).map_err(|source| Error::Io {
        path: m4.clone(),
        source,
    })?;
    let mut m4s: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".m4"))
        .map(|n| format!("m4/{n}"))
        .collect();
    m4s.sort();
    files.extend(m4s);
    let mut out: BTreeMap<String, KnownFlag> = BTreeMap::new();
    let mut conflicted = std::collections::BTreeSet::new();
    for rel in files {
        let path = source_root.join(&rel);
        if !path.exists() && !rel.starts_with("m4/") && rel != "tools/configure.ac" {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            for &(mac, kind, default) in DECLARATIONS {
                let mut rest = line;
                while let Some(pos) = rest.find(mac) {
                    let after = &rest[pos + mac.len()..];
                    rest = after;
                    let Some(args) = after.strip_prefix('(') else {
                        continue;
                    };
                    let args = args.trim_start().trim_start_matches('[');
                    let name: String = args
                        .chars()
                        .take_while(|c| !matches!(c, ']' | ',' | ')'))
                        .collect();
                    let name = name.trim().to_string();
                    if name.is_empty() || name.contains('$') {
                        continue;
                    }
                    let key = format!("{kind}-{name}");
                    let flag = KnownFlag {
                        kind,
                        name,
                        default_enabled: default,
                        declared_at: format!("{rel}:{}", i + 1),
                    };
                    match out.get_mut(&key) {
                        Some(f) => match (f.default_enabled, flag.default_enabled) {
                            // Declared twice with different defaults (systemd): host-dependent.
                            (Some(a), Some(b)) if a != b => {
                                f.default_enabled = None;
                                conflicted.insert(key);
                            }
                            (None, Some(b)) if !conflicted.contains(&key) => {
                                f.default_enabled = Some(b)
                            }
                            _ => {}
                        },
                        None => {
                            out.insert(key, flag);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A distribution's flags, with where they come from.
#[derive(Debug, Clone, Serialize)]
pub struct FlagSet {
    pub who: &'static str,
    pub source: &'static str,
    pub flags: &'static [&'static str],
}

/// The flag sets this crate knows. Debian's is checked against the real debian/rules in
/// tests; the others are transcribed from their packaging and only their names are checked.
pub const FLAG_SETS: &[FlagSet] = &[
    FlagSet {
        who: "Qubes dom0",
        source: "QubesOS/qubes-vmm-xen xen.spec.in",
        flags: &[
            "--disable-qemu-traditional",
            "--with-system-qemu=/usr/bin/qemu-system-x86_64",
            "--with-system-seabios=/usr/share/seabios/bios-256k.bin",
            "--disable-stubdom",
            "--disable-pvshim",
            "--enable-systemd",
            "--disable-ocamltools",
            "--disable-golang",
            "--disable-docs",
        ],
    },
    FlagSet {
        who: "Qubes VM",
        source: "QubesOS/qubes-vmm-xen guest (VM) build",
        flags: &[
            "--disable-xen",
            "--disable-stubdom",
            "--disable-docs",
            "--disable-qemu-traditional",
            "--disable-seabios",
            "--disable-rombios",
            "--disable-ipxe",
            "--disable-ocamltools",
            "--disable-golang",
            "--disable-pvshim",
            "--disable-monitors",
        ],
    },
    FlagSet {
        who: "upstream",
        source: "no flags: configure's defaults",
        flags: &[],
    },
    FlagSet {
        who: "Debian",
        source: "debian/rules of xen 4.17.5+72-g01140da4e8-1",
        flags: &[
            "--disable-stubdom",
            "--prefix=/usr",
            "--includedir=/usr/include",
            "--libdir=/usr/lib/$(DEB_HOST_MULTIARCH)",
            "--with-libexec-libdir-suffix=/$(DEB_HOST_MULTIARCH)",
            "--host=$(DEB_HOST_MULTIARCH)",
            "--mandir=/usr/share/man",
            "--infodir=/usr/share/info",
            "--sysconfdir=/etc",
            "--localstatedir=/var",
            "--with-libexec-leaf-dir=xen-$(upstream_version)",
            "--disable-blktap1",
            "--disable-blktap2",
            "--disable-qemu-traditional",
            "--disable-rombios",
            "--with-system-qemu=/usr/libexec/xen-qemu-system-i386",
            "--enable-ovmf",
            "--with-system-ovmf=/usr/share/ovmf/OVMF.fd",
            "--with-system-seabios=/usr/share/seabios/bios-256k.bin",
        ],
    },
    FlagSet {
        who: "Guix",
        source: "guix gnu/packages/virtualization.scm (xen)",
        flags: &[
            "--enable-rpath",
            "--disable-qemu-traditional",
            "--disable-rombios",
            "--disable-stubdom",
            "--with-initddir=$out/etc/init.d",
            "--with-system-qemu=$qemu/bin/qemu-system-i386",
            "--with-system-seabios=$seabios/share/firmware/bios.bin",
            "--with-system-ovmf=$ovmf/share/firmware/ovmf_x64.bin",
            "--with-extra-qemuu-configure-args=--disable-sdl",
        ],
    },
    FlagSet {
        who: "nixpkgs",
        source: "nixpkgs pkgs/applications/virtualization/xen (generic.nix)",
        flags: &[
            "--enable-systemd",
            "--disable-qemu-traditional",
            "--with-system-qemu",
            "--with-system-seabios=$seabios/share/seabios/bios.bin",
            "--with-system-ovmf=$ovmf/FV/OVMF.fd",
            "--with-system-ipxe=$ipxe/ipxe.bin",
            "--disable-xsmpolicy",
        ],
    },
];

#[derive(Debug, Clone, Serialize)]
pub struct FlagWarning {
    pub who: String,
    pub flag: String,
    pub kind: &'static str,
    pub message: String,
}

/// Splits `--enable-foo=x` into ("enable", "foo", enabling?).
fn parse_flag(flag: &str) -> Option<(&'static str, String, bool)> {
    let f = flag.strip_prefix("--")?;
    let name = f.split('=').next().unwrap_or(f);
    let val = f.split_once('=').map(|(_, v)| v);
    if let Some(n) = name.strip_prefix("enable-") {
        return Some(("enable", n.to_string(), val != Some("no")));
    }
    if let Some(n) = name.strip_prefix("disable-") {
        return Some(("enable", n.to_string(), false));
    }
    if let Some(n) = name.strip_prefix("with-") {
        return Some(("with", n.to_string(), val != Some("no")));
    }
    if let Some(n) = name.strip_prefix("without-") {
        return Some(("with", n.to_string(), false));
    }
    Some(("builtin", name.to_string(), true))
}

/// Checks flag sets against a tree's known flags; `previous` is an older tree's, to report
/// defaults that changed.
pub fn check_flags(
    sets: &[FlagSet],
    known: &BTreeMap<String, KnownFlag>,
    previous: Option<&BTreeMap<String, KnownFlag>>,
) -> Vec<FlagWarning> {
    let mut out = Vec::new();
    for set in sets {
        for &flag in set.flags {
            let warn = |kind: &'static str, message: String| FlagWarning {
                who: set.who.to_string(),
                flag: flag.to_string(),
                kind,
                message,
            };
            let Some((kind, name, on)) = parse_flag(flag) else {
                out.push(warn("unknown", "not a --flag".into()));
                continue;
            };
            if kind == "builtin" {
                if !AUTOCONF_BUILTIN.contains(&name.as_str()) {
                    out.push(warn(
                        "unknown",
                        format!("configure does not define --{name}: it is ignored"),
                    ));
                }
                continue;
            }
            let key = format!("{kind}-{name}");
            let Some(k) = known.get(&key) else {
                out.push(warn(
                    "unknown",
                    format!("configure does not define --{kind}-{name}: it is ignored"),
                ));
                continue;
            };
            if k.default_enabled == Some(on) {
                out.push(warn(
                    "no-op",
                    format!(
                        "restates the default ({} at {})",
                        if on { "enabled" } else { "disabled" },
                        k.declared_at
                    ),
                ));
            }
            if let Some(prev) = previous.and_then(|p| p.get(&key)) {
                if prev.default_enabled != k.default_enabled {
                    out.push(warn(
                        "default-changed",
                        format!(
                            "default changed from {} to {} ({})",
                            show_default(prev.default_enabled),
                            show_default(k.default_enabled),
                            k.declared_at
                        ),
                    ));
                }
            }
        }
    }
    out
}

fn show_default(d: Option<bool>) -> &'static str {
    match d {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "conditional",
    }
}
