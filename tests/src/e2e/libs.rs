//! Finds the shared libraries a set of programs needs, as the guest's loader will:
//! `ldd` with the staged Xen library folders searched first, so Xen's own libraries
//! come from the staged packages and the rest (libc, yajl, ...) from the host.

use super::command;
use super::error::{E2eError, Result};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// True for ELF files (programs, libraries, objects) — the only ones ldd can inspect.
pub fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"\x7fELF")
}

/// The libraries (and the dynamic loader) that `programs` load, transitively.
pub fn resolve(programs: &[PathBuf], library_dirs: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let elves: Vec<&PathBuf> = programs.iter().filter(|p| is_elf(p)).collect();
    let mut libs = BTreeSet::new();
    if elves.is_empty() {
        return Ok(libs);
    }
    let lib_path = std::env::join_paths(library_dirs).map_err(|e| E2eError::Staging {
        what: format!("library folder list: {e}"),
    })?;
    // ldd exits 1 when one of the files is static; its per-file report is what counts.
    let out = Command::new("ldd")
        .args(&elves)
        .env("LD_LIBRARY_PATH", lib_path)
        .output()
        .map_err(|source| E2eError::MissingTool {
            tool: "ldd".into(),
            package: "libc-bin".into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let single = elves.len() == 1;
    let mut current: PathBuf = elves[0].clone();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            if !single {
                current = PathBuf::from(line.trim_end_matches(':'));
            }
            continue;
        }
        let line = line.trim();
        if let Some((name, rest)) = line.split_once(" => ") {
            if rest.trim() == "not found" {
                return Err(E2eError::MissingLibrary {
                    binary: current.clone(),
                    library: name.to_string(),
                });
            }
            if let Some(path) = rest.split(" (").next().filter(|p| p.starts_with('/')) {
                libs.insert(PathBuf::from(path));
            }
        } else if line.starts_with('/') {
            // The loader itself: "/lib64/ld-linux-x86-64.so.2 (0x...)".
            if let Some(path) = line.split(" (").next() {
                libs.insert(PathBuf::from(path));
            }
        }
    }
    let static_only = String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable")
        || text.contains("not a dynamic executable");
    if libs.is_empty() && !out.status.success() && !static_only {
        return Err(E2eError::Command {
            command: command::describe(Command::new("ldd").args(&elves)),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_libc_and_the_loader_of_a_host_program() {
        let libs = resolve(&[PathBuf::from("/usr/bin/xenstore-read")], &[]).unwrap();
        let names: Vec<String> = libs
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("libxenstore.so")),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.starts_with("libc.so")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("ld-linux")), "{names:?}");
    }

    #[test]
    fn a_static_program_needs_no_libraries() {
        assert!(resolve(&[PathBuf::from("/bin/busybox")], &[])
            .unwrap()
            .is_empty());
    }
}
