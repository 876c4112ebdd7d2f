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

impl Definitions {
    pub fn get(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
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
