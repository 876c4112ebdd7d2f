//! Nix's base32: its own alphabet (no e, o, u, t) and a reversed bit order, so the
//! usual base32 crates cannot be used. Guix uses the same encoding for `(base32 "...")`.

/// The 32 digits Nix uses, in value order.
pub(crate) const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of the encoding of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    (n * 8).div_ceil(5)
}

/// Encode like Nix's `printHash32`: the last character holds the lowest 5 bits of byte 0.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let lo = bytes[i] >> j;
        let hi = if i + 1 < bytes.len() {
            (u16::from(bytes[i + 1]) << (8 - j)) as u8
        } else {
            0
        };
        out.push(ALPHABET[usize::from((lo | hi) & 0x1f)] as char);
    }
    out
}

/// Why a Nix base32 string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    BadChar { ch: char, pos: usize },
    Overflow,
}

/// Decode into exactly `out.len()` bytes; the string must have `encoded_len(out.len())` digits.
pub(crate) fn decode(s: &str, out: &mut [u8]) -> Result<(), DecodeError> {
    out.fill(0);
    let chars = s.as_bytes();
    let len = chars.len();
    for (k, &c) in chars.iter().enumerate() {
        let digit = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| DecodeError::BadChar {
                ch: s[k..].chars().next().unwrap_or('?'),
                pos: k,
            })? as u16;
        let n = len - 1 - k;
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        out[i] |= (digit << j) as u8;
        let carry = (digit >> (8 - j)) as u8;
        if i + 1 < out.len() {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(DecodeError::Overflow);
        }
    }
    Ok(())
}
