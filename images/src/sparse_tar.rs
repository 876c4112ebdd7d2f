//! The `root.img.part.NN` pieces: an old-GNU sparse tar of root.img (the format whose first
//! 512-byte header `qvm-template` reads the image size from), cut into fixed-size parts.
//!
//! GNU tar writes the archive (it finds holes with SEEK_HOLE, so a mostly empty 2 GiB image
//! costs only its data); we cut its stream into parts ourselves, in one pass, instead of
//! piping through split(1).

use crate::error::{ImageError, Result};
use crate::tools::command;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Archives `dir/file_name` and writes `<out_dir>/<file_name>.part.NN` pieces of `part_size`
/// bytes; returns the parts in order.
pub fn write_parts(
    dir: &Path,
    file_name: &str,
    out_dir: &Path,
    part_size: u64,
    epoch: i64,
) -> Result<Vec<PathBuf>> {
    let mut child = command("tar")
        .args([
            "--format=gnu",
            "--sparse",
            "--numeric-owner",
            "--owner=0",
            "--group=0",
            "--mode=0644",
        ])
        .arg(format!("--mtime=@{epoch}"))
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "--", file_name])
        // Streamed into the parts as it comes: the process layer's hardened command, our pipes.
        .std_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ImageError::ToolMissing {
            tool: "tar".into(),
            source,
        })?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut current: Option<(BufWriter<File>, u64, PathBuf)> = None;
    let result: Result<()> = (|| loop {
        let n = stdout
            .read(&mut buf)
            .map_err(ImageError::io("tar stdout"))?;
        if n == 0 {
            return Ok(());
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            if current.is_none() {
                let path = out_dir.join(format!("{file_name}.part.{:02}", parts.len()));
                let f = File::create(&path).map_err(ImageError::io(&path))?;
                parts.push(path.clone());
                current = Some((BufWriter::with_capacity(1 << 20, f), 0, path));
            }
            let (w, written, path) = current.as_mut().expect("set above");
            let take = chunk.len().min((part_size - *written) as usize);
            w.write_all(&chunk[..take])
                .map_err(ImageError::io(path.as_path()))?;
            *written += take as u64;
            chunk = &chunk[take..];
            if *written == part_size {
                let (mut w, _, path) = current.take().expect("set above");
                w.flush().map_err(ImageError::io(&path))?;
            }
        }
    })();
    if let Some((mut w, _, path)) = current.take() {
        w.flush().map_err(ImageError::io(&path))?;
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(ImageError::io("tar"))?;
    result?;
    if !status.success() {
        return Err(ImageError::Tool {
            tool: "tar".into(),
            status: status.to_string(),
            stderr: stderr.trim().to_string(),
            hint: ". Fix: GNU tar must be installed as `tar`".into(),
        });
    }
    Ok(parts)
}
