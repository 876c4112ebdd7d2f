//! Comparing two Kconfig `.config` files symbol by symbol, for the update report.

use std::collections::BTreeMap;

use serde::Serialize;

/// Symbol → value; `# CONFIG_X is not set` reads as `n`.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                if let Some(sym) = sym.strip_prefix("CONFIG_") {
                    out.insert(sym.to_string(), "n".to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("CONFIG_") {
            if let Some((k, v)) = rest.split_once('=') {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolChange {
    pub symbol: String,
    /// `None` when the symbol is absent on that side.
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Every symbol whose value differs, sorted by name.
pub fn diff(old: &str, new: &str) -> Vec<SymbolChange> {
    let (a, b) = (parse(old), parse(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| SymbolChange {
            symbol: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_by_symbol() {
        let old = "#\n# Header\nCONFIG_PV=y\n# CONFIG_PV32 is not set\nCONFIG_NR_CPUS=256\nCONFIG_GONE=y\n";
        let new = "CONFIG_PV=y\nCONFIG_PV32=y\nCONFIG_NR_CPUS=512\nCONFIG_NEW=\"x\"\n";
        let d = diff(old, new);
        let s: Vec<String> = d
            .iter()
            .map(|c| format!("{}:{:?}->{:?}", c.symbol, c.old, c.new))
            .collect();
        assert_eq!(
            s,
            [
                "GONE:Some(\"y\")->None",
                "NEW:None->Some(\"\\\"x\\\"\")",
                "NR_CPUS:Some(\"256\")->Some(\"512\")",
                "PV32:Some(\"n\")->Some(\"y\")",
            ]
        );
    }
}
