//! Value escaping as the C tools print and parse it, so `xs read` output matches
//! `xenstore-read` byte for byte: `\t \n \r \\`, `\ooo` below 8, `\xNN` for other
//! non-printable bytes.

/// Renders a value for a terminal.
pub fn escape(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &c in value {
        match c {
            b' '..=b'~' if c != b'\\' => out.push(c as char),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\\' => out.push_str("\\\\"),
            c if c < 8 => out.push_str(&format!("\\{c:03o}")),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out
}

/// Parses the escapes [`escape`] produces (and that `xenstore-write` accepts).
pub fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let (radix, max) = match b[i] {
            b't' => (0, b'\t'),
            b'n' => (0, b'\n'),
            b'r' => (0, b'\r'),
            b'x' => {
                i += 1;
                (16, 2)
            }
            b'0'..=b'7' => (8, 3),
            other => (0, other),
        };
        if radix == 0 {
            out.push(max);
            i += 1;
            continue;
        }
        let digits = b[i..]
            .iter()
            .take(max as usize)
            .take_while(|d| (**d as char).is_digit(radix))
            .count();
        let s = std::str::from_utf8(&b[i..i + digits]).unwrap_or("0");
        out.push(u32::from_str_radix(s, radix).map_or(0, |v| v as u8));
        i += digits;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(&escape(&all)), all);
        assert_eq!(escape(b"a\tb\\\x01\x7f"), "a\\tb\\\\\\001\\x7f");
    }
}
