//! The validated, typed form of a definition file.

use serde::Serialize;
use std::path::PathBuf;

use crate::defs::version::QubesVersion;

/// All definitions of a folder, sorted by package name.
#[derive(Debug, Clone, Serialize)]
pub struct Definitions {
    pub dir: PathBuf,
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub name: String,
    /// The file, as the user named it (for messages).
    pub path: PathBuf,
    #[serde(serialize_with = "ser_display")]
    pub version: QubesVersion,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Body {
    Xen(XenDef),
    QubesData(DataDef),
}

/// A Xen package: which upstream tree, which Qubes data, how to configure.
#[derive(Debug, Clone, Serialize)]
pub struct XenDef {
    /// Name of the `qubes-data` package holding patches and config.
    pub data: String,
    pub hv_abi: String,
    pub configure_flags: Vec<String>,
    /// Options Qubes' config sets that this build may lose to `olddefconfig` (the toolchain
    /// cannot support them), as `CONFIG_NAME`; any other lost option fails the build.
    pub allow_dropped_options: Vec<String>,
    pub stream: Stream,
    pub upstream: Upstream,
}

/// Which Qubes tags a package follows.
#[derive(Debug, Clone, Serialize)]
pub struct Stream {
    pub repo: String,
    #[serde(flatten)]
    pub reference: StreamRef,
    /// Xen `major.minor` the stream's tags carry.
    pub xen_series: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamRef {
    Branch(String),
    /// A commit of an unmerged branch (next-Xen work).
    Commit(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    /// Which origin builds, `update`s, `verify`s and `prepare`s the package.
    pub origin: Origin,
    pub git: String,
    pub tag: String,
    /// `None` while unpinned (only allowed with `origin = "tarball"`).
    pub commit: Option<String>,
    /// NAR sha256 of the tree at `commit`; `None` while unpinned, as `commit`.
    pub nar_sha256: Option<String>,
    pub signing_keys: Vec<String>,
    pub tarball: Tarball,
}

/// Where upstream Xen comes from. Each origin has its own pins: git a commit and the NAR
/// sha256 of its tree, the tarball the file's sha256; `update` keeps the chosen origin's pins
/// and marks the other's git pins unpinned rather than leaving stale ones behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The signed `RELEASE-x.y.z` tag of the git repository (the default).
    #[default]
    Git,
    /// The release tarball, checked against its detached `.sig`.
    Tarball,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Git => "git",
            Origin::Tarball => "tarball",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tarball {
    pub url: String,
    /// `None` while unpinned (`sha256 = "unpinned"`).
    pub sha256: Option<String>,
    pub sig_url: String,
}

/// Qubes' packaging data: the tagged repo, its config and patch series.
#[derive(Debug, Clone, Serialize)]
pub struct DataDef {
    pub source: DataSource,
    pub config: ConfigPin,
    pub patches: Vec<PatchPin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataSource {
    pub repo: String,
    /// The signed tag `v<version>-<rel>`; `None` for the data of a stream pinned to a commit
    /// of an unmerged branch (such commits carry no tag: pinned by commit id alone).
    pub tag: Option<String>,
    pub commit: String,
    pub nar_sha256: String,
    pub signing_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigPin {
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchPin {
    pub number: u32,
    pub file: String,
    pub sha256: String,
}

/// Marker for a hash not known yet; `update`/`verify` fill it.
pub const UNPINNED: &str = "unpinned";

/// A xen package and the qubes-data package its patches and config come from: what every
/// command that takes a package name looks up, through [`Definitions::xen_package`].
#[derive(Debug, Clone, Copy)]
pub struct XenPackage<'a> {
    pub package: &'a Package,
    pub xen: &'a XenDef,
    pub data_package: &'a Package,
    pub data: &'a DataDef,
}

/// A package name on the command line that names no package, or one of the wrong kind. The
/// binary turns it into a usage error (exit 2), whichever command meets it.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("unknown package '{name}'; known: {known}")]
    Unknown { name: String, known: String },
    #[error("'{name}' is a qubes-data package; name the xen package that uses it ({users})")]
    DataPackage { name: String, users: String },
    /// The loader refuses this; only definitions built by hand get here.
    #[error("{}: '{name}' names data package '{data}', which is missing or not a qubes-data package", path.display())]
    NoData {
        path: PathBuf,
        name: String,
        data: String,
    },
}

impl Definitions {
    pub fn get(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The package `name`, of any kind.
    pub fn package(&self, name: &str) -> Result<&Package, LookupError> {
        self.get(name).ok_or_else(|| LookupError::Unknown {
            name: name.into(),
            known: self.names().join(", "),
        })
    }

    /// The xen package `name` and its data package: the one lookup of "package -> xen
    /// definition -> data package" (update, verify, prepare, build, reconcile).
    pub fn xen_package(&self, name: &str) -> Result<XenPackage<'_>, LookupError> {
        let package = self.package(name)?;
        let Some(xen) = package.as_xen() else {
            return Err(LookupError::DataPackage {
                name: name.into(),
                users: self.data_users(name).join(", "),
            });
        };
        let (data_package, data) = self
            .get(&xen.data)
            .and_then(|d| Some((d, d.as_data()?)))
            .ok_or_else(|| LookupError::NoData {
                path: package.path.clone(),
                name: name.into(),
                data: xen.data.clone(),
            })?;
        Ok(XenPackage {
            package,
            xen,
            data_package,
            data,
        })
    }

    /// The qubes-data package `name` is, or the one xen package `name` uses.
    pub fn qubes_data(&self, name: &str) -> Result<(&Package, &DataDef), LookupError> {
        let package = self.package(name)?;
        match package.as_data() {
            Some(d) => Ok((package, d)),
            None => self.xen_package(name).map(|x| (x.data_package, x.data)),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.packages.iter().map(|p| p.name.as_str()).collect()
    }

    /// The xen packages whose patches and config come from data package `data`
    /// (for errors that name the package to use instead).
    pub fn data_users(&self, data: &str) -> Vec<&str> {
        self.packages
            .iter()
            .filter(|p| p.as_xen().is_some_and(|x| x.data == data))
            .map(|p| p.name.as_str())
            .collect()
    }
}

impl Package {
    pub fn kind(&self) -> &'static str {
        match self.body {
            Body::Xen(_) => "xen",
            Body::QubesData(_) => "qubes-data",
        }
    }

    pub fn as_xen(&self) -> Option<&XenDef> {
        match &self.body {
            Body::Xen(x) => Some(x),
            Body::QubesData(_) => None,
        }
    }

    pub fn as_data(&self) -> Option<&DataDef> {
        match &self.body {
            Body::QubesData(d) => Some(d),
            Body::Xen(_) => None,
        }
    }
}

fn ser_display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
