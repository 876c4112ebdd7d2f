//! Turning a spec's partitions and size into byte offsets, sizing the root filesystem from the
//! content when the size is `guess`.

use crate::error::{ImageError, Result};
use crate::size::{round_up, MIB};
use crate::spec::{DiskSize, ImageSpec, PartSize, Partition};
use serde::Serialize;

/// A partition placed on the disk.
#[derive(Debug, Clone, Serialize)]
pub struct Placed {
    pub number: usize,
    pub label: String,
    pub type_guid: String,
    pub uuid: String,
    pub start: u64,
    pub size: u64,
    pub root: bool,
}

/// The final disk geometry.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub disk_size: u64,
    pub partitions: Vec<Placed>,
}

impl Layout {
    /// The partition that receives the root tree.
    pub fn root(&self) -> &Placed {
        self.partitions
            .iter()
            .find(|p| p.root)
            .expect("spec validation guarantees one root partition")
    }
}

/// Space before the first partition (protective MBR + primary GPT, MiB-aligned) and after the
/// last one (backup GPT).
const HEAD: u64 = MIB;
const TAIL: u64 = MIB;

/// The journal mke2fs (1.47) creates for a filesystem of `fs_bytes` with 4 KiB blocks.
pub fn journal_bytes(fs_bytes: u64, journaled: bool) -> u64 {
    if !journaled {
        return 0;
    }
    let blocks = fs_bytes / 4096;
    let jblocks = match blocks {
        b if b < 2048 => 0,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    };
    jblocks * 4096
}

/// The smallest root filesystem that holds `content` bytes: content, journal, inode tables
/// (one 256-byte inode per 16 KiB) and a little room for group descriptors and directories.
pub fn min_root_fs(content: u64, journaled: bool) -> u64 {
    let base = content + content / 64 + 4 * MIB;
    let mut fs = round_up(base, MIB);
    // The journal size depends on the fs size; iterate to a fixed point (two rounds suffice).
    for _ in 0..3 {
        fs = round_up(base + journal_bytes(fs, journaled), MIB);
    }
    fs
}

/// `guess`: content × 1.25 rounded up to a MiB, plus the filesystem's own metadata.
pub fn guessed_root_fs(content: u64, journaled: bool) -> u64 {
    let grown = round_up(content.saturating_mul(5).div_ceil(4), MIB);
    min_root_fs(grown, journaled)
}

/// Places `parts` on a disk for a tree of `content` bytes.
pub fn plan(spec: &ImageSpec, parts: &[Partition], content: u64) -> Result<Layout> {
    let journaled = !spec.volatile_root;
    let fixed: u64 = parts
        .iter()
        .map(|p| match p.size {
            PartSize::Bytes(b) => b,
            PartSize::Rest => 0,
        })
        .sum();
    let rest = parts.iter().any(|p| p.size == PartSize::Rest);
    let need = min_root_fs(content, journaled);
    let disk_size = match spec.size {
        DiskSize::Bytes(b) => round_up(b, MIB),
        DiskSize::Guess if rest => HEAD + fixed + guessed_root_fs(content, journaled) + TAIL,
        DiskSize::Guess => HEAD + fixed + TAIL,
    };
    if disk_size < HEAD + fixed + TAIL + if rest { MIB } else { 0 } {
        return Err(ImageError::TooSmall {
            message: format!(
                "{disk_size} bytes cannot hold the partitions ({} MiB plus 2 MiB of partition tables). Fix: raise `size` or use \"guess\"",
                fixed / MIB
            ),
        });
    }
    let mut start = HEAD;
    let mut placed = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let size = match p.size {
            PartSize::Bytes(b) => b,
            PartSize::Rest => disk_size - TAIL - start,
        };
        if p.root && size < need {
            return Err(ImageError::TooSmall {
                message: format!(
                    "the root partition `{}` gets {} MiB but the content needs at least {} MiB ({} MiB of files plus filesystem metadata). Fix: raise `size` (or that partition's size) or use \"guess\"",
                    p.label,
                    size / MIB,
                    need.div_ceil(MIB),
                    content.div_ceil(MIB)
                ),
            });
        }
        placed.push(Placed {
            number: i + 1,
            label: p.label.clone(),
            type_guid: p.type_guid.hyphenated().to_string().to_uppercase(),
            uuid: p.uuid.hyphenated().to_string(),
            start,
            size,
            root: p.root,
        });
        start += size;
    }
    if start + TAIL > disk_size {
        return Err(ImageError::TooSmall {
            message: format!(
                "the partitions need {} MiB but `size` gives {} MiB. Fix: raise `size` or use \"guess\"",
                (start + TAIL).div_ceil(MIB),
                disk_size / MIB
            ),
        });
    }
    Ok(Layout {
        disk_size,
        partitions: placed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guess_is_content_times_five_quarters_plus_metadata() {
        let content = 400 * MIB;
        let fs = guessed_root_fs(content, true);
        assert!(fs >= 500 * MIB, "{fs}");
        // 500 MiB + journal (64 MiB at this size) + inode tables and slack, nothing wild.
        assert!(fs <= 580 * MIB, "{}", fs / MIB);
        assert_eq!(fs % MIB, 0);
        assert!(
            guessed_root_fs(content, false) < fs,
            "no journal, smaller fs"
        );
        assert!(min_root_fs(content, true) < fs);
    }

    #[test]
    fn journal_matches_mke2fs_defaults() {
        assert_eq!(journal_bytes(16 * MIB, true), 4 * MIB);
        assert_eq!(journal_bytes(512 * MIB, true), 16 * MIB);
        assert_eq!(journal_bytes(2048 * MIB, true), 64 * MIB);
        assert_eq!(journal_bytes(2048 * MIB, false), 0);
    }
}
