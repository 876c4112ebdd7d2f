//! The real Qubes tag history and an oracle for it, written from the table's own
//! columns (not from upstream-tags' parser). Shared by the planner replay here and
//! the bot replay in bump-bot, which includes this file by path.

#![allow(dead_code)]

use std::path::PathBuf;

use time::macros::format_description;
use time::Date;

pub struct Row {
    pub tag: String,
    pub date: Date,
    pub version: String,
    pub rel: String,
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("QXK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn rows() -> Vec<Row> {
    let path = shared_dir().join("fixtures/qubes-vmm-xen/tags.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fmt = format_description!("[year]-[month]-[day]");
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                tag: f[0].to_string(),
                date: Date::parse(f[1], &fmt).unwrap_or_else(|e| panic!("{line:?}: {e}")),
                version: f[2].to_string(),
                rel: f.get(3).copied().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// The oracle's own ordering key, from the table columns: numeric parts, release
/// after its rcs, rc number, rel. None for rows that are not a release tag.
pub fn oracle_key(row: &Row) -> Option<(Vec<u64>, u8, u64, u64)> {
    if row.tag != format!("v{}-{}", row.version, row.rel) {
        return None; // R4.x, mm_*, w_*, and tags whose name is not the version
    }
    let (core, rc) = match row.version.split_once("-rc") {
        Some((c, n)) => (c, Some(n.parse::<u64>().ok()?)),
        None => (row.version.as_str(), None),
    };
    let nums: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 3 {
        return None;
    }
    Some((
        nums,
        if rc.is_some() { 0 } else { 1 },
        rc.unwrap_or(0),
        row.rel.parse().ok()?,
    ))
}
