//! Where the Xen headers and libraries come from, and which Xen version they are.
//!
//! Order: `XEN_SYS_SOURCE` (a prepared source tree, so bindings carry patched
//! interfaces), then `XEN_SYS_INCLUDE_DIR` / `XEN_SYS_LIB_DIR`, then pkg-config.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::libraries::Library;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct XenVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl XenVersion {
    /// Parses "4.17", "4.17.0" or "4.17.5-pre"; trailing non-digits of the last part are ignored.
    pub fn parse(text: &str) -> Option<XenVersion> {
        let mut parts = text.trim().split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let digits: String = part?.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = number(parts.next()).unwrap_or(0);
        Some(XenVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for XenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// How one library gets linked.
pub struct Link {
    pub name: &'static str,
    pub search_dirs: Vec<PathBuf>,
}

/// Everything bindgen and the linker need.
pub struct Toolstack {
    /// Human-readable origin for messages ("pkg-config", "XEN_SYS_SOURCE=...").
    pub origin: String,
    pub include_dirs: Vec<PathBuf>,
    pub links: Vec<Link>,
    pub version: XenVersion,
}

/// A discovery failure, printed as one message by the build script.
pub struct DiscoveryError(pub String);

const INSTALL_HINT: &str =
    "install the Xen development package (Debian/Ubuntu: `apt-get install libxen-dev`; \
Fedora: `dnf install xen-devel`), or point XEN_SYS_SOURCE at a prepared Xen source tree, \
or set XEN_SYS_INCLUDE_DIR and XEN_SYS_LIB_DIR";

pub fn env_path(name: &str) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn discover(libs: &[&'static Library]) -> Result<Toolstack, DiscoveryError> {
    let forced_version = env_path("XEN_SYS_XEN_VERSION")
        .map(|v| {
            let text = v.to_string_lossy().into_owned();
            XenVersion::parse(&text).ok_or_else(|| {
                DiscoveryError(format!(
                    "XEN_SYS_XEN_VERSION={text:?} is not a Xen version such as 4.17 or 4.17.0"
                ))
            })
        })
        .transpose()?;
    let source = env_path("XEN_SYS_SOURCE");
    let include_dir = env_path("XEN_SYS_INCLUDE_DIR");
    let lib_dir = env_path("XEN_SYS_LIB_DIR");

    let mut toolstack = if let Some(tree) = source {
        from_source_tree(&tree, libs, lib_dir.as_deref())?
    } else if include_dir.is_some() || lib_dir.is_some() {
        from_dirs(include_dir.as_deref(), lib_dir.as_deref(), libs)?
    } else {
        from_pkg_config(libs)?
    };
    if let Some(version) = forced_version {
        toolstack.version = version;
    }
    Ok(toolstack)
}

/// A prepared tree: headers from it, libraries from it when built, else from the system.
fn from_source_tree(
    tree: &Path,
    libs: &[&'static Library],
    lib_dir: Option<&Path>,
) -> Result<Toolstack, DiscoveryError> {
    let makefile = tree.join("xen/Makefile");
    let text = fs::read_to_string(&makefile).map_err(|e| {
        DiscoveryError(format!(
            "XEN_SYS_SOURCE={}: cannot read {} ({e}); it must point at the top of a Xen source tree",
            tree.display(),
            makefile.display()
        ))
    })?;
    println!("cargo:rerun-if-changed={}", makefile.display());
    let version = version_from_makefile(&text).ok_or_else(|| {
        DiscoveryError(format!(
            "{}: no XEN_VERSION/XEN_SUBVERSION lines; is XEN_SYS_SOURCE a Xen source tree?",
            makefile.display()
        ))
    })?;

    let mut include_dirs = vec![tree.join("tools/include")];
    let mut missing = Vec::new();
    if !tree.join("tools/include/xen/xen.h").exists() {
        missing.push("tools/include/xen/ (public headers)".to_string());
    }
    for lib in libs {
        for dir in lib.source_include_dirs {
            include_dirs.push(tree.join(dir));
        }
        if lib.feature == "xenlight" && !tree.join("tools/libs/light/_libxl_types.h").exists() {
            missing.push("tools/libs/light/_libxl_types.h".to_string());
        }
    }
    if !missing.is_empty() {
        return Err(DiscoveryError(format!(
            "XEN_SYS_SOURCE={}: generated headers missing: {}. Run `scripts/xen-generate-headers.sh {}` \
             (or `package-defs prepare`, which does it) first",
            tree.display(),
            missing.join(", "),
            tree.display()
        )));
    }

    // Libraries: the tree's own build if it has one, else the next discovery steps.
    let built: Vec<_> = libs
        .iter()
        .map(|lib| (lib, tree.join(lib.source_lib_dir)))
        .collect();
    let all_built = built.iter().all(|(lib, dir)| has_library(dir, lib.feature));
    let links = if all_built {
        built
            .into_iter()
            .map(|(lib, dir)| Link {
                name: lib.feature,
                search_dirs: vec![dir],
            })
            .collect()
    } else if lib_dir.is_some() {
        from_dirs(None, lib_dir, libs)?.links
    } else {
        let system = from_pkg_config(libs)?;
        if (system.version.major, system.version.minor) != (version.major, version.minor) {
            println!(
                "cargo:warning=xen-sys: headers from Xen {version} ({}) but libraries from Xen {} (pkg-config)",
                tree.display(),
                system.version
            );
        }
        system.links
    };
    Ok(Toolstack {
        origin: format!("XEN_SYS_SOURCE={}", tree.display()),
        include_dirs,
        links,
        version,
    })
}

fn from_dirs(
    include_dir: Option<&Path>,
    lib_dir: Option<&Path>,
    libs: &[&'static Library],
) -> Result<Toolstack, DiscoveryError> {
    // Only one of the two given: the other half comes from pkg-config.
    let system = if include_dir.is_none() || lib_dir.is_none() {
        Some(from_pkg_config(libs)?)
    } else {
        None
    };
    let mut missing = Vec::new();
    let include_dirs = match include_dir {
        Some(dir) => {
            for lib in libs {
                for header in lib.headers {
                    if !dir.join(header).exists() {
                        missing.push(format!("{}", dir.join(header).display()));
                    }
                }
            }
            vec![dir.to_path_buf()]
        }
        None => system
            .as_ref()
            .map(|s| s.include_dirs.clone())
            .unwrap_or_default(),
    };
    let links = match lib_dir {
        Some(dir) => libs
            .iter()
            .map(|lib| {
                if !has_library(dir, lib.feature) {
                    missing.push(format!("{}/lib{}.so", dir.display(), lib.feature));
                }
                Link {
                    name: lib.feature,
                    search_dirs: vec![dir.to_path_buf()],
                }
            })
            .collect(),
        None => system
            .as_ref()
            .map(|s| clone_links(&s.links))
            .unwrap_or_default(),
    };
    if !missing.is_empty() {
        return Err(DiscoveryError(format!(
            "XEN_SYS_INCLUDE_DIR/XEN_SYS_LIB_DIR: missing {}; {INSTALL_HINT}",
            missing.join(", ")
        )));
    }
    let version = match (&system, lib_dir) {
        (Some(system), _) => system.version,
        (None, Some(dir)) => version_from_soname(dir).ok_or_else(|| {
            DiscoveryError(format!(
                "cannot tell the Xen version from {} (no libxenctrl.so.X.Y or libxenlight.so.X.Y); \
                 set XEN_SYS_XEN_VERSION, e.g. XEN_SYS_XEN_VERSION=4.17",
                dir.display()
            ))
        })?,
        (None, None) => unreachable!("from_dirs is called with at least one directory"),
    };
    Ok(Toolstack {
        origin: "XEN_SYS_INCLUDE_DIR/XEN_SYS_LIB_DIR".to_string(),
        include_dirs,
        links,
        version,
    })
}

/// The Xen releases these bindings are made for (libxenctrl's pkg-config version is Xen's;
/// the other libraries carry their own library versions). Like libgit2-sys, a system Xen
/// outside the range is refused by pkg-config with the versions in its message.
const SUPPORTED_XEN: std::ops::Range<&str> = "4.13".."4.31";

fn from_pkg_config(libs: &[&'static Library]) -> Result<Toolstack, DiscoveryError> {
    let mut include_dirs: Vec<PathBuf> = Vec::new();
    let mut links = Vec::new();
    let mut missing = Vec::new();
    let mut refused = Vec::new();
    let mut lib_dirs: Vec<PathBuf> = Vec::new();
    for lib in libs {
        let mut config = pkg_config::Config::new();
        if lib.pkg_config == "xencontrol" {
            config.range_version(SUPPORTED_XEN);
        }
        match config
            .cargo_metadata(false)
            .env_metadata(true)
            .probe(lib.pkg_config)
        {
            Ok(found) => {
                for dir in found.include_paths {
                    if !include_dirs.contains(&dir) {
                        include_dirs.push(dir);
                    }
                }
                for dir in &found.link_paths {
                    if !lib_dirs.contains(dir) {
                        lib_dirs.push(dir.clone());
                    }
                }
                links.push(Link {
                    name: lib.feature,
                    search_dirs: found.link_paths,
                });
            }
            // pkgconf: "required version is '>= 4.13'"; pkg-config: "Requested '...' but".
            Err(pkg_config::Error::ProbeFailure { output, .. })
                if ["required version", "Requested"]
                    .iter()
                    .any(|m| String::from_utf8_lossy(&output.stderr).contains(m)) =>
            {
                let said = String::from_utf8_lossy(&output.stderr);
                refused.push(said.trim().lines().collect::<Vec<_>>().join(" "))
            }
            Err(_) => missing.push(lib),
        }
    }
    if !refused.is_empty() {
        return Err(DiscoveryError(format!(
            "{}; these bindings support Xen {} to {} (exclusive): install a supported Xen, or \
             point XEN_SYS_SOURCE at a prepared tree",
            refused.join("; "),
            SUPPORTED_XEN.start,
            SUPPORTED_XEN.end
        )));
    }
    if !missing.is_empty() {
        let names: Vec<_> = missing
            .iter()
            .map(|l| format!("lib{}", l.feature))
            .collect();
        let modules: Vec<_> = missing.iter().map(|l| l.pkg_config).collect();
        return Err(DiscoveryError(format!(
            "cannot find {} (pkg-config modules: {}); {INSTALL_HINT}",
            names.join(", "),
            modules.join(", ")
        )));
    }
    // libxenstore and friends carry their own library versions; libxenctrl's is Xen's.
    if let Ok(libdir) = pkg_config::get_variable("xencontrol", "libdir") {
        lib_dirs.push(PathBuf::from(libdir));
    }
    let version = pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("xencontrol")
        .ok()
        .and_then(|l| XenVersion::parse(&l.version))
        .or_else(|| lib_dirs.iter().find_map(|d| version_from_soname(d)))
        .ok_or_else(|| {
            DiscoveryError(format!(
                "cannot tell the Xen version (pkg-config xencontrol not found); {INSTALL_HINT}, \
                 or set XEN_SYS_XEN_VERSION"
            ))
        })?;
    Ok(Toolstack {
        origin: "pkg-config".to_string(),
        include_dirs,
        links,
        version,
    })
}

fn clone_links(links: &[Link]) -> Vec<Link> {
    links
        .iter()
        .map(|l| Link {
            name: l.name,
            search_dirs: l.search_dirs.clone(),
        })
        .collect()
}

fn has_library(dir: &Path, name: &str) -> bool {
    dir.join(format!("lib{name}.so")).exists() || dir.join(format!("lib{name}.a")).exists()
}

/// `export XEN_VERSION = 4` / `export XEN_SUBVERSION = 17` / `XEN_EXTRAVERSION ?= .5$(...)`.
pub fn version_from_makefile(text: &str) -> Option<XenVersion> {
    let value = |key: &str| -> Option<String> {
        text.lines().find_map(|line| {
            let line = line
                .trim_start()
                .strip_prefix("export ")
                .unwrap_or(line)
                .trim();
            let rest = line.strip_prefix(key)?.trim_start();
            let rest = rest
                .strip_prefix("?=")
                .or_else(|| rest.strip_prefix(":="))
                .or_else(|| rest.strip_prefix('='))?;
            Some(rest.trim().to_string())
        })
    };
    let major: u32 = value("XEN_VERSION")?.parse().ok()?;
    let minor: u32 = value("XEN_SUBVERSION")?.parse().ok()?;
    let patch = value("XEN_EXTRAVERSION")
        .and_then(|extra| {
            let digits: String = extra
                .trim_start_matches('.')
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
    Some(XenVersion {
        major,
        minor,
        patch,
    })
}

/// libxenctrl and libxenlight carry Xen's own version in their file names.
fn version_from_soname(dir: &Path) -> Option<XenVersion> {
    let entries = fs::read_dir(dir).ok()?;
    let mut best: Option<XenVersion> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        for prefix in ["libxenctrl.so.", "libxenlight.so."] {
            if let Some(v) = name.strip_prefix(prefix).and_then(XenVersion::parse) {
                if best.is_none_or(|b| v > b) {
                    best = Some(v);
                }
            }
        }
    }
    best
}
