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
/// tests; the others are transcribed from the packaging named in `source` (read through the
/// project's code-search index of public repositories) and only their names are checked,
/// against the Debian 4.17 tree's configure.ac files. Each set is the flags as written in
/// that packaging, macros and variables left unexpanded, for its default build options.
pub const FLAG_SETS: &[FlagSet] = &[
    // xen.spec.in at QubesOS/qubes-vmm-xen@926a4ab3ce34 (release4.2 stream: `hv_abi 4.17`,
    // its Patch lines are the v4.17.4-5 series plus later additions). The single
    // `./configure` call, with the spec's defaults on x86_64: qemu-traditional and stubdom
    // off (no flag is passed for them), OVMF on, and the seabios flag taken when Fedora's
    // /usr/share/seabios/bios-256k.bin exists at build time (else `--disable-seabios`).
    // A later "QUBES SPECIFIC PART" adds `--disable-ipxe --disable-rombios --disable-pvshim`
    // and a second `--with-system-qemu` to CONFIG_EXTRA, but after `./configure` has run, and
    // no later configure call reads it in this revision, so they are not listed. Docs, ocaml
    // and xsm are switched with rpm/make variables (e.g. OCAML_TOOLS=n), not configure flags.
    FlagSet {
        who: "Qubes dom0",
        source: "QubesOS/qubes-vmm-xen xen.spec.in @926a4ab3ce34 (R4.2, Xen 4.17)",
        flags: &[
            "--prefix=%{_prefix}",
            "--libdir=%{_libdir}",
            "--libexecdir=%{_libexecdir}",
            "--with-system-qemu=/usr/bin/qemu-system-i386",
            "--with-linux-backend-modules=xen-evtchn xen-gntdev xen-gntalloc xen-blkback xen-netback xen-pciback xen-scsiback xen-acpi-processor",
            "--with-system-ovmf=%{_libexecdir}/%{name}/boot/ovmf.bin",
            "--with-system-ipxe=/usr/share/ipxe/10ec8139.rom",
            "--with-system-seabios=/usr/share/seabios/bios-256k.bin",
        ],
    },
    // archlinux/PKGBUILD.in, Qubes' VM build (guest tools only: `make dist-tools`). Same
    // flags at QubesOS/qubes-vmm-xen@481b19854312 (its patch list includes 0653, i.e. the
    // 4.17 series) and @0cb44dddf66f. `--disable-ocaml` and `--disable-blktap2` are not flags
    // 4.17's configure defines (it has `ocamltools`; blktap2 is gone), so configure ignores
    // them; the tests record that.
    // Not used: debian-vm/debian/rules (@ee34098d7bf0 and @050cfe15c9c2 both still run dh's
    // python2 helper, so they predate R4.2; their flags: --prefix=/usr
    // --includedir=/usr/include --mandir=/usr/share/man --infodir=/usr/share/info
    // --with-initddir=/etc/init.d --enable-systemd --with-systemd=/lib/systemd/system
    // --sysconfdir=/etc --localstatedir=/var --disable-ocamltools --disable-blktap2). Which
    // rules file R4.2's Debian VM packages come from was not established.
    FlagSet {
        who: "Qubes VM",
        source: "QubesOS/qubes-vmm-xen archlinux/PKGBUILD.in @481b19854312 (Xen 4.17 series)",
        flags: &[
            "--prefix=/usr",
            "--sbindir=/usr/bin",
            "--libdir=/usr/lib",
            "--disable-ocaml",
            "--disable-pvshim",
            "--disable-blktap2",
        ],
    },
    FlagSet {
        who: "upstream",
        source: "no flags: configure's defaults",
        flags: &[],
    },
    // Checked in full by tests/tables.rs against debian/rules of the tree that
    // scripts/debian-xen-source.sh fetches.
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
    // Guix's `xen` package, gnu/packages/virtualization.scm, read at
    // guix-mirror/guix@ef1f1ca74208 (Xen 4.11.1). Stored copies of the same file with Xen
    // 4.13.0 and 4.14.1 pass the same flags (4.14.1 is the newest Guix xen found; whether Guix
    // moved past it was not established). Guix's xen is older than 4.17: the flag names are
    // still checked against 4.17's configure below. `$out`, `$qemu`, `$seabios`, `$ovmf`
    // stand for `(assoc-ref %outputs "out")` and `(assoc-ref %build-inputs "...")`.
    FlagSet {
        who: "Guix",
        source: "guix gnu/packages/virtualization.scm (xen 4.11.1-4.14.1), guix-mirror/guix@ef1f1ca74208",
        flags: &[
            "--enable-rpath",
            "--disable-qemu-traditional",
            "--disable-rombios",
            "--disable-stubdom",
            "--with-initddir=$out/etc/init.d",
            "--with-system-qemu=$qemu/bin/qemu-system-i386",
            "--with-system-seabios=$seabios/share/firmware/bios.bin",
            "--with-system-ovmf=$ovmf/share/firmware/ovmf_ia32.bin",
        ],
    },
    // nixpkgs pkgs/applications/virtualization/xen/generic/default.nix at
    // NixOS/nixpkgs@10d085cd2860, the builder behind that directory's 4.17/, 4.18/ and 4.19/
    // default.nix, with its default arguments (withInternalQEMU, withInternalSeaBIOS,
    // withInternalOVMF and withInternalIPXE true; withFlask false). Other argument sets
    // (packages.nix's variants) were not checked. For comparison, the later
    // pkgs/by-name/xe/xen/package.nix (Xen 4.20.2) passes --enable-systemd
    // --disable-qemu-traditional --with-system-qemu and system seabios/OVMF/iPXE paths plus
    // --disable-xsmpolicy instead.
    FlagSet {
        who: "nixpkgs",
        source: "nixpkgs pkgs/applications/virtualization/xen/generic/default.nix @10d085cd2860 (Xen 4.17-4.19)",
        flags: &[
            "--enable-systemd",
            "--disable-qemu-traditional",
            "--enable-ovmf",
            "--enable-ipxe",
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

/// Flags that are not in the built-in tables: a package definition's.
#[derive(Debug, Clone, Serialize)]
pub struct OwnedFlagSet {
    pub who: String,
    pub source: String,
    pub flags: Vec<String>,
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
        check_flag_list(set.who, set.flags, known, previous, &mut out);
    }
    out
}

/// Checks one distribution's flags (see [`check_flags`]).
pub fn check_flag_list<S: AsRef<str>>(
    who: &str,
    flags: &[S],
    known: &BTreeMap<String, KnownFlag>,
    previous: Option<&BTreeMap<String, KnownFlag>>,
    out: &mut Vec<FlagWarning>,
) {
    for flag in flags {
        let flag = flag.as_ref();
        let warn = |kind: &'static str, message: String| FlagWarning {
            who: who.to_string(),
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

fn show_default(d: Option<bool>) -> &'static str {
    match d {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "conditional",
    }
}
