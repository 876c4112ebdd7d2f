//! Qubes package versions (`<xen-version>-<rel>`) and their ordering; shared by
//! package-defs (update's downgrade check) and the bot's planner.
//!
//! Xen versions are semver-like, but `-rcN` must compare numerically (`rc10` after `rc3`),
//! which plain semver pre-release ordering (lexical) gets wrong, so the rc number is kept apart.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Xen release number such as `4.17.4` or `4.17.0-rc3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XenVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `Some(n)` for release candidate `-rcN`, which sorts before the release.
    pub rc: Option<u64>,
}

/// A Qubes package version: Xen version plus the Qubes packaging release (`rel`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QubesVersion {
    pub xen: XenVersion,
    pub rel: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a {what}: {why}")]
pub struct VersionError {
    pub input: String,
    pub what: &'static str,
    pub why: String,
}

impl XenVersion {
    /// Parses `X.Y.Z` or `X.Y.Z-rcN`.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let err = |why: &str| VersionError {
            input: s.to_string(),
            what: "Xen version (expected X.Y.Z or X.Y.Z-rcN, e.g. 4.17.4)",
            why: why.to_string(),
        };
        let v = semver::Version::parse(s).map_err(|e| err(&e.to_string()))?;
        if !v.build.is_empty() {
            return Err(err("build metadata (+...) is not used by Xen"));
        }
        let rc = if v.pre.is_empty() {
            None
        } else {
            let n = v
                .pre
                .as_str()
                .strip_prefix("rc")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| err("the only pre-release form is -rcN"))?;
            Some(n)
        };
        Ok(Self {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            rc,
        })
    }

    /// `major.minor`, the series a Qubes stream follows.
    pub fn series(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// The upstream git tag of this version: `RELEASE-X.Y.Z`, or `X.Y.Z-rcN` for candidates.
    pub fn upstream_tag(&self) -> String {
        match self.rc {
            None => format!("RELEASE-{self}"),
            Some(_) => self.to_string(),
        }
    }

    fn key(&self) -> (u64, u64, u64, u64) {
        // A release sorts after all of its candidates.
        (
            self.major,
            self.minor,
            self.patch,
            self.rc.unwrap_or(u64::MAX),
        )
    }
}

impl Ord for XenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for XenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for XenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(rc) = self.rc {
            write!(f, "-rc{rc}")?;
        }
        Ok(())
    }
}

impl QubesVersion {
    /// Parses `VERSION-REL` (`4.17.4-5`, `4.17.0-rc3-1`), also accepting the tag form `v4.17.4-5`.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let body = s.strip_prefix('v').unwrap_or(s);
        let err = |why: &str| VersionError {
            input: s.to_string(),
            what: "Qubes version (expected VERSION-REL, e.g. 4.17.4-5)",
            why: why.to_string(),
        };
        let (xen, rel) = body.rsplit_once('-').ok_or_else(|| err("missing `-REL`"))?;
        let rel = rel
            .parse::<u32>()
            .map_err(|_| err("REL must be a non-negative integer"))?;
        let xen = XenVersion::parse(xen).map_err(|e| err(&e.why))?;
        Ok(Self { xen, rel })
    }

    /// The Qubes git tag, `v<version>-<rel>`.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }

    pub fn is_rc(&self) -> bool {
        self.xen.rc.is_some()
    }

    /// True when only the packaging release differs (a rel-only bump).
    pub fn same_xen(&self, other: &QubesVersion) -> bool {
        self.xen == other.xen
    }
}

impl FromStr for QubesVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QubesVersion::parse(s)
    }
}

impl serde::Serialize for QubesVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Ord for QubesVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.xen.cmp(&other.xen).then(self.rel.cmp(&other.rel))
    }
}
impl PartialOrd for QubesVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for QubesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.xen, self.rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> QubesVersion {
        QubesVersion::parse(s).unwrap()
    }

    #[test]
    fn ordering_follows_xen_then_rel_with_rc_first() {
        let mut v = [
            q("4.17.4-5"),
            q("4.17.0-1"),
            q("4.17.0-rc10-1"),
            q("4.17.0-rc3-2"),
            q("4.17.0-rc3-1"),
            q("4.17.4-10"),
            q("4.9.0-3"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            s,
            [
                "4.9.0-3",
                "4.17.0-rc3-1",
                "4.17.0-rc3-2",
                "4.17.0-rc10-1",
                "4.17.0-1",
                "4.17.4-5",
                "4.17.4-10"
            ]
        );
    }

    #[test]
    fn tags_round_trip() {
        assert_eq!(q("v4.19.4-9").tag(), "v4.19.4-9");
        assert_eq!(q("4.17.4-5").xen.upstream_tag(), "RELEASE-4.17.4");
        assert_eq!(q("4.17.0-rc3-1").xen.upstream_tag(), "4.17.0-rc3");
        assert_eq!(q("4.19.4-9").xen.series(), "4.19");
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["4.17.4", "4.17-5", "4.17.4-x", "4.17.4-beta1-2", "", "v-1"] {
            assert!(QubesVersion::parse(bad).is_err(), "{bad}");
        }
    }
}
