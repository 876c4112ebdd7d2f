//! Byte sizes as written in specs: plain integers or strings with binary suffixes.

/// MiB in bytes.
pub const MIB: u64 = 1024 * 1024;

/// Parses `"200MiB"`, `"2GiB"`, `"4096"`, `"1K"`; binary units only, since disks are laid out
/// in MiB and a decimal "MB" would silently misalign partitions.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Rounds `n` up to a multiple of `to`.
pub fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn suffixes() {
        assert_eq!(parse_size("200MiB"), Some(200 * MIB));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("10MB"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("99999999999999999999T"), None);
        assert_eq!(round_up(1, 4096), 4096);
        assert_eq!(round_up(8192, 4096), 8192);
    }
}
