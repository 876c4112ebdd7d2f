//! Node permissions as xenstore encodes them: a letter (`r` read, `w` write, `b` both,
//! `n` none) followed by a domain id. The first entry names the owner and the default
//! for domains not listed.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    None,
    Read,
    Write,
    Both,
}

impl Access {
    fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }
}

/// One permission entry, e.g. `r5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Perm {
    pub domid: u32,
    pub access: Access,
}

impl Perm {
    pub fn new(access: Access, domid: u32) -> Perm {
        Perm { domid, access }
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access.letter(), self.domid)
    }
}

impl FromStr for Perm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Perm, Error> {
        let mut chars = s.chars();
        let access = match chars.next() {
            Some('n') => Access::None,
            Some('r') => Access::Read,
            Some('w') => Access::Write,
            Some('b') => Access::Both,
            _ => return Err(Error::InvalidPerm(s.to_string())),
        };
        let domid = chars
            .as_str()
            .parse::<u32>()
            .map_err(|_| Error::InvalidPerm(s.to_string()))?;
        Ok(Perm { domid, access })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in ["n0", "r5", "w12", "b32752"] {
            assert_eq!(s.parse::<Perm>().unwrap().to_string(), s);
        }
        for bad in ["", "x1", "r", "r-1", "rr"] {
            assert!(bad.parse::<Perm>().is_err(), "{bad}");
        }
    }
}
