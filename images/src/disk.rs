//! Writing a partitioned disk image into a sparse file without root: the GPT with `sfdisk`,
//! the root filesystem with `mke2fs -d` at the partition's offset, ownership and timestamps
//! normalised with `debugfs`.
//!
//! Why sfdisk instead of a Rust GPT crate: util-linux's sfdisk is the reference GPT writer
//! (protective MBR, backup table, CRCs), takes a script with pinned disk and partition GUIDs
//! (exactly how Qubes' own builder makes its tables reproducible), works on a plain file, and
//! costs a few milliseconds; a crate would add code to trust without adding anything.

use crate::content::Tree;
use crate::error::{ImageError, Result};
use crate::layout::Layout;
use crate::tools::{command, run};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::path::Path;
use uuid::Uuid;

/// Options for the root filesystem.
#[derive(Debug, Clone)]
pub struct FsOptions {
    pub uuid: Uuid,
    pub hash_seed: Uuid,
    pub epoch: i64,
    pub journal: bool,
}

/// Creates `path` as a sparse file of the layout's size and writes the partition table.
pub fn write_partition_table(path: &Path, layout: &Layout, disk_id: &Uuid) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(ImageError::io(path))?;
    file.set_len(layout.disk_size)
        .map_err(ImageError::io(path))?;
    drop(file);
    run(
        command("sfdisk")
            .args([
                "--quiet",
                "--no-reread",
                "--no-tell-kernel",
                "--wipe",
                "never",
            ])
            .arg(path)
            .stdin(sfdisk_script(layout, disk_id)),
        "check the partition sizes and GUIDs in the spec",
    )?;
    Ok(())
}

/// The sfdisk script for `layout`: explicit sector starts and sizes so the layout we computed
/// is the layout on disk.
pub fn sfdisk_script(layout: &Layout, disk_id: &Uuid) -> String {
    let mut s = format!(
        "label: gpt\nlabel-id: {}\nunit: sectors\nfirst-lba: 2048\n\n",
        disk_id.hyphenated()
    );
    for p in &layout.partitions {
        let _ = writeln!(
            s,
            "start={}, size={}, type={}, uuid={}, name=\"{}\"",
            p.start / 512,
            p.size / 512,
            p.type_guid,
            p.uuid,
            p.label
        );
    }
    s
}

/// Writes an ext4 filesystem holding `tree` at `offset` bytes into `image`, `size` bytes long.
pub fn write_ext4(
    image: &Path,
    offset: u64,
    size: u64,
    tree: &Tree,
    opts: &FsOptions,
) -> Result<()> {
    let ext = format!(
        "offset={offset},root_owner=0:0,hash_seed={},nodiscard,assume_storage_prezeroed=1",
        opts.hash_seed.hyphenated()
    );
    let mut cmd = command("mke2fs");
    cmd.env("E2FSPROGS_FAKE_TIME", opts.epoch.to_string())
        .env("MKE2FS_CONFIG", "/etc/mke2fs.conf")
        .args([
            "-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096", "-I", "256",
        ])
        .arg("-U")
        .arg(opts.uuid.hyphenated().to_string())
        .arg("-E")
        .arg(&ext);
    if !opts.journal {
        cmd.args(["-O", "^has_journal"]);
    }
    cmd.arg("-d")
        .arg(&tree.dir)
        .arg(image)
        .arg(format!("{}k", size / 1024));
    run(
        &mut cmd,
        "if it could not allocate blocks or inodes, the filesystem is too small for the tree: raise `size` or use \"guess\"",
    )
    .map_err(|e| match e {
        ImageError::Tool { stderr, .. } if stderr.contains("Could not allocate") || stderr.contains("No free space") => {
            ImageError::TooSmall {
                message: format!(
                    "the root filesystem ({} MiB) is too small for the tree (mke2fs: {stderr}). Fix: raise `size` or use \"guess\"",
                    size >> 20
                ),
            }
        }
        other => other,
    })?;
    tracing::debug!("mke2fs done");
    normalise(image, offset, tree, opts.epoch)?;
    tracing::debug!("debugfs normalisation done");
    Ok(())
}

/// Makes every inode root-owned and clamps its times to `epoch`, so the filesystem neither
/// leaks the builder's uid nor the moment of the build.
///
/// mke2fs 1.47.0 copies owners and ctime from the source tree and has no option to override
/// them for all files (`root_owner` covers only `/`), so debugfs edits the inodes in place,
/// in one session.
fn normalise(image: &Path, offset: u64, tree: &Tree, epoch: i64) -> Result<()> {
    let mut script = String::new();
    for e in &tree.entries {
        let p = format!("/{}", e.rel.display());
        if e.uid != 0 {
            // debugfs' `uid`/`gid` fields cover the high 16 bits too.
            let _ = writeln!(script, "sif \"{p}\" uid 0");
        }
        if e.gid != 0 {
            let _ = writeln!(script, "sif \"{p}\" gid 0");
        }
        let _ = writeln!(script, "sif \"{p}\" ctime @{epoch}");
        let _ = writeln!(script, "sif \"{p}\" atime @{epoch}");
        if e.mtime > epoch {
            let _ = writeln!(script, "sif \"{p}\" mtime @{epoch}");
        }
    }
    let out = crate::tools::output(
        command("debugfs")
            .arg("-w")
            .arg("-f")
            .arg("-")
            .arg(format!("{}?offset={offset}", image.display()))
            .stdin(script),
    )?;
    // debugfs exits 0 even when a command fails; its complaints on stderr are the signal.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .collect();
    if !out.status.success() || !problems.is_empty() {
        return Err(ImageError::Tool {
            tool: "debugfs".into(),
            status: out.status.to_string(),
            stderr: problems
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join("; "),
            hint: ". Fix: report this; the tree changed while the image was being built?".into(),
        });
    }
    Ok(())
}
