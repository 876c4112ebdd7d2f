//! C `strtoll`/`strtoull` as glibc implements them, because conf's range checks and
//! comparisons depend on their exact behaviour (prefixes, partial parses, saturation).

/// Parses like `strtoll(s, &end, base)`: returns (value, bytes consumed, overflowed).
pub fn c_strtoll(s: &str, base: u32) -> (i64, usize, bool) {
    let (neg, mag, used, overflow) = parse(s, base);
    if used == 0 {
        return (0, 0, false);
    }
    if neg {
        if overflow || mag > (i64::MAX as u64) + 1 {
            (i64::MIN, used, true)
        } else {
            ((mag as i64).wrapping_neg(), used, false)
        }
    } else if overflow || mag > i64::MAX as u64 {
        (i64::MAX, used, true)
    } else {
        (mag as i64, used, false)
    }
}

/// Parses like `strtoull(s, &end, base)`: returns (value, bytes consumed, overflowed).
pub fn c_strtoull(s: &str, base: u32) -> (u64, usize, bool) {
    let (neg, mag, used, overflow) = parse(s, base);
    if used == 0 {
        return (0, 0, false);
    }
    if overflow {
        return (u64::MAX, used, true);
    }
    (if neg { mag.wrapping_neg() } else { mag }, used, false)
}

fn parse(s: &str, base: u32) -> (bool, u64, usize, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let has_hex_prefix = |i: usize| {
        i + 2 < b.len()
            && b[i] == b'0'
            && (b[i + 1] | 0x20) == b'x'
            && (b[i + 2] as char).is_ascii_hexdigit()
    };
    if (base == 0 || base == 16) && has_hex_prefix(i) {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if i < b.len() && b[i] == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut mag: u64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let Some(d) = (b[i] as char).to_digit(base) else {
            break;
        };
        match mag
            .checked_mul(base as u64)
            .and_then(|m| m.checked_add(d as u64))
        {
            Some(m) => mag = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return (false, 0, 0, false);
    }
    (neg, mag, i, overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_glibc_on_the_cases_conf_meets() {
        assert_eq!(c_strtoll("256", 10), (256, 3, false));
        assert_eq!(c_strtoll("0x10", 16), (16, 4, false));
        assert_eq!(c_strtoll("0x10", 0), (16, 4, false));
        assert_eq!(c_strtoll("010", 0), (8, 3, false));
        assert_eq!(c_strtoll("", 10), (0, 0, false));
        assert_eq!(c_strtoll("12ab", 10), (12, 2, false));
        assert_eq!(c_strtoll("-5", 10), (-5, 2, false));
        assert_eq!(c_strtoll("99999999999999999999", 10).0, i64::MAX);
        assert_eq!(c_strtoull("ffffffff", 16), (0xffff_ffff, 8, false));
        assert_eq!(c_strtoll("0xg", 16), (0, 1, false));
    }
}
