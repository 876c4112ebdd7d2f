//! The sha256 digest value and its notations.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use sha2::Digest as _;

use crate::nix_base32;

/// A sha256 digest. `Display` prints lowercase hex; [`Sha256Digest::parse`] accepts hex,
/// Nix/Guix base32 and SRI (`sha256-<base64>`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

/// Why a string is not a sha256 digest in any notation we know; the message shows the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    /// Length fits no notation.
    #[error("`{input}` is not a sha256 digest: expected 64 hex digits, 52 Nix base32 digits or `sha256-<base64>` (got {len} characters)")]
    UnknownForm { input: String, len: usize },
    /// Hex with a non-hex character.
    #[error("`{input}` is not a hex sha256: bad character {ch:?} at position {pos}")]
    BadHex { input: String, ch: char, pos: usize },
    /// Nix base32 with a character outside Nix's alphabet.
    #[error("`{input}` is not a Nix base32 sha256: bad character {ch:?} at position {pos} (alphabet is 0-9 and a-z without e, o, u, t)")]
    BadNixBase32 { input: String, ch: char, pos: usize },
    /// Nix base32 whose first digit carries bits beyond 256.
    #[error("`{input}` is not a Nix base32 sha256: the value is larger than 256 bits")]
    NixBase32Overflow { input: String },
    /// SRI with another algorithm or bad base64.
    #[error("`{input}` is not an SRI sha256: {why}")]
    BadSri { input: String, why: String },
}

impl Sha256Digest {
    /// The digest of a byte slice (small inputs; stream large ones with [`crate::hash_reader`]).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as `sha256sum` prints it (64 characters).
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 15)] as char);
        }
        s
    }

    /// Nix/Guix base32 (52 characters), as `nix-hash --base32` prints and Guix's `(base32 ...)` reads.
    pub fn to_nix_base32(&self) -> String {
        nix_base32::encode(&self.0)
    }

    /// Subresource Integrity form, `sha256-<standard base64>`, as Nix's `hash =` attributes use.
    pub fn to_sri(&self) -> String {
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }

    /// Parse lowercase or uppercase hex (64 digits).
    pub fn from_hex(s: &str) -> Result<Self, DigestParseError> {
        if s.len() != 64 {
            return Err(DigestParseError::UnknownForm {
                input: s.to_owned(),
                len: s.chars().count(),
            });
        }
        let mut out = [0u8; 32];
        for (pos, ch) in s.char_indices() {
            let v = ch.to_digit(16).ok_or_else(|| DigestParseError::BadHex {
                input: s.to_owned(),
                ch,
                pos,
            })? as u8;
            out[pos / 2] |= if pos % 2 == 0 { v << 4 } else { v };
        }
        Ok(Self(out))
    }

    /// Parse Nix/Guix base32 (52 digits).
    pub fn from_nix_base32(s: &str) -> Result<Self, DigestParseError> {
        if s.len() != nix_base32::encoded_len(32) {
            return Err(DigestParseError::UnknownForm {
                input: s.to_owned(),
                len: s.chars().count(),
            });
        }
        let mut out = [0u8; 32];
        nix_base32::decode(s, &mut out).map_err(|e| match e {
            nix_base32::DecodeError::BadChar { ch, pos } => DigestParseError::BadNixBase32 {
                input: s.to_owned(),
                ch,
                pos,
            },
            nix_base32::DecodeError::Overflow => DigestParseError::NixBase32Overflow {
                input: s.to_owned(),
            },
        })?;
        Ok(Self(out))
    }

    /// Parse SRI `sha256-<base64>`.
    pub fn from_sri(s: &str) -> Result<Self, DigestParseError> {
        let bad = |why: String| DigestParseError::BadSri {
            input: s.to_owned(),
            why,
        };
        let b64 = s
            .strip_prefix("sha256-")
            .ok_or_else(|| bad("expected the prefix `sha256-`".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| bad(format!("bad base64: {e}")))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| bad(format!("decodes to {} bytes, expected 32", v.len())))?;
        Ok(Self(arr))
    }

    /// Parse any of the three notations, chosen by shape: `sha256-` prefix → SRI, 64 characters →
    /// hex, 52 → Nix base32. Surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Self, DigestParseError> {
        let s = s.trim();
        if s.starts_with("sha256-") {
            Self::from_sri(s)
        } else if s.len() == 64 {
            Self::from_hex(s)
        } else if s.len() == 52 {
            Self::from_nix_base32(s)
        } else {
            Err(DigestParseError::UnknownForm {
                input: s.to_owned(),
                len: s.chars().count(),
            })
        }
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(b: [u8; 32]) -> Self {
        Self(b)
    }
}
