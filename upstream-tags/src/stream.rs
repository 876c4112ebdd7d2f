//! A stream: which tags a package follows.

use crate::version::QubesVersion;

/// A package's stream: one Xen series on one Qubes branch (e.g. 4.17 on `release4.2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Qubes branch the tags are cut from, for messages (`release4.2`, `main`).
    pub branch: String,
    /// The Xen series, `(4, 17)`.
    pub series: (u64, u64),
}

impl Stream {
    /// Parses a series written `4.17`.
    pub fn new(branch: &str, series: &str) -> Option<Stream> {
        let (major, minor) = series.split_once('.')?;
        Some(Stream {
            branch: branch.to_string(),
            series: (major.parse().ok()?, minor.parse().ok()?),
        })
    }

    pub fn contains(&self, version: &QubesVersion) -> bool {
        (version.xen.major, version.xen.minor) == self.series
    }

    /// `4.17`, as written in definitions and messages.
    pub fn series_name(&self) -> String {
        format!("{}.{}", self.series.0, self.series.1)
    }
}
