//! Qubes vmm-xen tag names and what they say.

use time::Date;

use crate::version::QubesVersion;

/// A tag name, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// `v4.17.4-5`: a packaging release.
    Release(QubesVersion),
    /// Anything else (`R4.3.0`, `mm_1a2b3c4d`, `w_...`, `v4.1.6.1`): never a bump target.
    Other(String),
}

impl Tag {
    pub fn parse(name: &str) -> Tag {
        // Only `v`-prefixed names; QubesVersion::parse alone would also take `4.17.4-5`.
        match name.strip_prefix('v').map(str::parse::<QubesVersion>) {
            Some(Ok(v)) => Tag::Release(v),
            _ => Tag::Other(name.to_string()),
        }
    }

    pub fn version(&self) -> Option<&QubesVersion> {
        match self {
            Tag::Release(v) => Some(v),
            Tag::Other(_) => None,
        }
    }
}

/// A tag with the day it was published (the tagger date, in UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTag {
    pub name: String,
    pub published: Date,
}

impl PublishedTag {
    pub fn tag(&self) -> Tag {
        Tag::parse(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_versioned_v_tags_are_releases() {
        assert_eq!(
            Tag::parse("v4.17.4-5").version().map(|v| v.to_string()),
            Some("4.17.4-5".into())
        );
        assert!(Tag::parse("v4.17.0-rc3-1").version().is_some());
        for other in [
            "R4.3.0",
            "R4.3.0-rc4",
            "mm_c36b6005",
            "w_abc",
            "v4.1.6.1",
            "v4.1.6.1-2",
            "v4.1.2-1-qubes2",
            "4.17.4-5",
        ] {
            assert_eq!(Tag::parse(other), Tag::Other(other.into()), "{other}");
        }
    }
}
