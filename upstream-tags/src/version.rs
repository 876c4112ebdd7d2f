//! Qubes package versions: a Xen version and an integer packaging release.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("{0:?} is not VERSION-REL (expected e.g. 4.17.4-5 or 4.17.0-rc3-1)")]
    MissingRel(String),
    #[error("{input:?}: release {rel:?} must be a whole number")]
    BadRel { input: String, rel: String },
    #[error("{input:?}: Xen version {xen:?} must be MAJOR.MINOR.PATCH with an optional -rcN")]
    BadXen { input: String, xen: String },
}

/// `4.17.4-5`: Xen 4.17.4, Qubes packaging release 5.
///
/// Ordered by Xen version (semver, `-rcN` before the release and numerically),
/// then by release.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QubesVersion {
    xen: semver::Version,
    rel: u32,
}

impl QubesVersion {
    pub fn new(xen: &str, rel: u32) -> Result<QubesVersion, VersionError> {
        let parsed = parse_xen(xen).ok_or_else(|| VersionError::BadXen {
            input: format!("{xen}-{rel}"),
            xen: xen.to_string(),
        })?;
        Ok(QubesVersion { xen: parsed, rel })
    }

    /// The Xen version as upstream writes it: `4.17.4` or `4.17.0-rc3`.
    pub fn xen(&self) -> String {
        let v = &self.xen;
        match self.rc() {
            Some(n) => format!("{}.{}.{}-rc{n}", v.major, v.minor, v.patch),
            None => format!("{}.{}.{}", v.major, v.minor, v.patch),
        }
    }

    pub fn rel(&self) -> u32 {
        self.rel
    }

    /// `(major, minor)`: the Xen series, which decides the stream.
    pub fn series(&self) -> (u64, u64) {
        (self.xen.major, self.xen.minor)
    }

    /// The release-candidate number, if this is one.
    pub fn rc(&self) -> Option<u64> {
        let pre = self.xen.pre.as_str();
        pre.strip_prefix("rc.").and_then(|n| n.parse().ok())
    }

    pub fn is_rc(&self) -> bool {
        !self.xen.pre.is_empty()
    }

    /// The upstream Xen tag, `RELEASE-4.17.4` (`RELEASE-4.17.0-rc3` for an rc).
    pub fn upstream_tag(&self) -> String {
        format!("RELEASE-{}", self.xen())
    }

    /// The Qubes vmm-xen tag, `v4.17.4-5`.
    pub fn qubes_tag(&self) -> String {
        format!("v{self}")
    }

    /// True when only the packaging release differs.
    pub fn same_xen(&self, other: &QubesVersion) -> bool {
        self.xen == other.xen
    }
}

/// `4.17.4` or `4.17.0-rc3`; rcN becomes the semver pre-release `rc.N` so that it
/// compares numerically.
fn parse_xen(text: &str) -> Option<semver::Version> {
    let (core, rc) = match text.split_once("-rc") {
        Some((core, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (core, Some(n))
        }
        Some(_) => return None,
        None => (text, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut v = semver::Version::parse(core).ok()?;
    if let Some(n) = rc {
        v.pre = semver::Prerelease::new(&format!("rc.{}", n.parse::<u64>().ok()?)).ok()?;
    }
    Some(v)
}

impl FromStr for QubesVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (xen, rel) = s
            .rsplit_once('-')
            .ok_or_else(|| VersionError::MissingRel(s.to_string()))?;
        if rel.starts_with("rc") {
            return Err(VersionError::MissingRel(s.to_string()));
        }
        let rel_n: u32 = rel.parse().map_err(|_| VersionError::BadRel {
            input: s.to_string(),
            rel: rel.to_string(),
        })?;
        let xen_v = parse_xen(xen).ok_or_else(|| VersionError::BadXen {
            input: s.to_string(),
            xen: xen.to_string(),
        })?;
        Ok(QubesVersion {
            xen: xen_v,
            rel: rel_n,
        })
    }
}

impl fmt::Display for QubesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.xen(), self.rel)
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

impl serde::Serialize for QubesVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> QubesVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["4.17.4-5", "4.17.0-rc3-1", "4.19.10-12", "5.0.0-1"] {
            assert_eq!(v(s).to_string(), s);
        }
        assert_eq!(v("4.17.4-5").qubes_tag(), "v4.17.4-5");
        assert_eq!(v("4.17.0-rc3-1").upstream_tag(), "RELEASE-4.17.0-rc3");
        assert_eq!(v("4.17.0-rc3-1").rc(), Some(3));
        assert_eq!(v("4.19.4-9").series(), (4, 19));
    }

    #[test]
    fn orders_by_xen_then_rel_with_rc_first_and_numeric() {
        let mut list: Vec<_> = [
            "4.17.4-5",
            "4.17.4-10",
            "4.17.0-1",
            "4.17.0-rc10-1",
            "4.17.0-rc9-2",
            "4.17.10-1",
            "4.17.4-6",
        ]
        .iter()
        .map(|s| v(s))
        .collect();
        list.sort();
        let shown: Vec<String> = list.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            shown,
            [
                "4.17.0-rc9-2",
                "4.17.0-rc10-1",
                "4.17.0-1",
                "4.17.4-5",
                "4.17.4-6",
                "4.17.4-10",
                "4.17.10-1"
            ]
        );
    }

    #[test]
    fn refuses_malformed_versions_with_the_reason() {
        assert!(v_err("4.17.4").contains("expected e.g. 4.17.4-5"));
        assert!(matches!(
            "4.17".parse::<QubesVersion>(),
            Err(VersionError::MissingRel(_))
        ));
        assert!(matches!(
            "4.17.4-x".parse::<QubesVersion>(),
            Err(VersionError::BadRel { .. })
        ));
        assert!(matches!(
            "4.1.6.1-2".parse::<QubesVersion>(),
            Err(VersionError::BadXen { .. })
        ));
        assert!(matches!(
            "4.17.0-rcX-1".parse::<QubesVersion>(),
            Err(VersionError::BadXen { .. })
        ));
        assert!(matches!(
            "4.17.0-rc3".parse::<QubesVersion>(),
            Err(VersionError::MissingRel(_))
        ));
    }

    fn v_err(s: &str) -> String {
        s.parse::<QubesVersion>().unwrap_err().to_string()
    }
}
