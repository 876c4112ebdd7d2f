//! Reading Qubes' packaging tree: `version`, `rel`, `config`, and the patch series.
//!
//! The series is the ordered `PatchNNNN: file` lines of `xen.spec.in` read as rpm reads them
//! (tag names in any case), never a listing of `*.patch`: the real repository holds dead patch
//! files and even a duplicated number.

use std::path::{Path, PathBuf};

use crate::defs::version::{QubesVersion, XenVersion};

/// The spec template in Qubes' repository.
pub const SPEC_FILE: &str = "xen.spec.in";

/// One `PatchNNNN: file` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecPatch {
    pub number: u32,
    pub file: String,
    /// 1-based line in the spec, for messages.
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Splits a spec line into a patch tag's number and value, as rpm's preamble parser reads it:
/// the tag name is case-insensitive (the real v4.17.6-6 spec has `PAtch0651:`), blanks may
/// precede the colon, and an unnumbered `Patch:` has an empty number (rpm numbers it).
fn patch_tag(line: &str) -> Option<(&str, &str)> {
    let l = line.trim_start();
    let name = l.get(..5)?;
    if !name.eq_ignore_ascii_case("patch") {
        return None;
    }
    let (num, value) = l[5..].split_once(':')?;
    let num = num.trim_end();
    // `PatchFoo:` is no patch tag in rpm either.
    num.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((num, value))
}

/// Parses the ordered patch series of a spec file's text: rpm's `%autosetup` applies the
/// patch tags in the order they are declared.
pub fn parse_series(path: &Path, text: &str) -> Result<Vec<SpecPatch>, SpecError> {
    let mut out: Vec<SpecPatch> = Vec::new();
    // rpm numbers an unnumbered `Patch:` one past the highest number seen so far.
    let mut next_auto = 0u32;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some((num, file)) = patch_tag(raw) else {
            continue;
        };
        let bad = |message: String| SpecError::Malformed {
            path: path.into(),
            line,
            message,
        };
        let number: u32 = if num.is_empty() {
            next_auto
        } else {
            num.parse()
                .map_err(|_| bad(format!("patch number '{num}' is too large")))?
        };
        next_auto = next_auto.max(number.saturating_add(1));
        let file = file.trim();
        if file.is_empty() || file.contains(char::is_whitespace) {
            return Err(bad(format!(
                "`Patch{num}:` must name exactly one patch file, found '{file}'"
            )));
        }
        if file.contains('/') || file.contains("%{") || file == ".." {
            return Err(bad(format!(
                "`Patch{num}:` file '{file}' must be a plain file name in the repository root"
            )));
        }
        if let Some(prev) = out.iter().find(|p| p.number == number) {
            return Err(bad(format!(
                "patch number {number} is already used on line {}",
                prev.line
            )));
        }
        if let Some(prev) = out.iter().find(|p| p.file == file) {
            return Err(bad(format!(
                "patch file '{file}' is already listed on line {}",
                prev.line
            )));
        }
        out.push(SpecPatch {
            number,
            file: file.to_string(),
            line,
        });
    }
    if out.is_empty() {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: "no `PatchNNNN: file` lines found; is this Qubes' xen.spec.in?".into(),
        });
    }
    Ok(out)
}

/// What `update` needs from a checked-out Qubes data tree.
#[derive(Debug, Clone)]
pub struct QubesTree {
    pub root: PathBuf,
    pub version: QubesVersion,
    pub series: Vec<SpecPatch>,
    /// Path of the hypervisor `.config` in the tree.
    pub config: PathBuf,
    /// `*.patch` files in the tree that the spec does not list (dead patches).
    pub unlisted: Vec<String>,
}

fn read_trimmed(root: &Path, name: &str) -> Result<String, SpecError> {
    let path = root.join(name);
    let s = std::fs::read_to_string(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let s = s.trim();
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(SpecError::Invalid {
            path,
            message: format!("expected a single word, found '{s}'"),
        });
    }
    Ok(s.to_string())
}

/// Reads `version`, `rel`, `config` and the spec's series from a Qubes tree, checking that
/// every listed patch exists.
pub fn read_tree(root: &Path) -> Result<QubesTree, SpecError> {
    let v = read_trimmed(root, "version")?;
    let xen = XenVersion::parse(&v).map_err(|e| SpecError::Invalid {
        path: root.join("version"),
        message: e.to_string(),
    })?;
    let r = read_trimmed(root, "rel")?;
    let rel = r.parse::<u32>().map_err(|_| SpecError::Invalid {
        path: root.join("rel"),
        message: format!("expected an integer, found '{r}'"),
    })?;
    let spec_path = root.join(SPEC_FILE);
    let text = std::fs::read_to_string(&spec_path).map_err(|source| SpecError::Read {
        path: spec_path.clone(),
        source,
    })?;
    let series = parse_series(&spec_path, &text)?;
    for p in &series {
        let f = root.join(&p.file);
        if !f.is_file() {
            return Err(SpecError::Malformed {
                path: spec_path.clone(),
                line: p.line,
                message: format!(
                    "`Patch{:04}: {}` names a file that is not in the tree",
                    p.number, p.file
                ),
            });
        }
    }
    let config = root.join("config");
    if !config.is_file() {
        return Err(SpecError::Invalid {
            path: config,
            message: "the hypervisor config is missing".into(),
        });
    }
    let mut unlisted = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".patch") && !series.iter().any(|p| p.file == name) {
                unlisted.push(name);
            }
        }
    }
    unlisted.sort();
    Ok(QubesTree {
        root: root.into(),
        version: QubesVersion { xen, rel },
        series,
        config,
        unlisted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_keeps_spec_order_and_ignores_other_lines() {
        let spec = "Name: xen\nPatch0: not-a-series?\nSource0: x.tar.gz\nPatch1001: b.patch\n  Patch0201:\ta.patch\nPatchFoo: no\n%patch -P 1001\n";
        let s = parse_series(Path::new("xen.spec.in"), spec).unwrap();
        let got: Vec<(u32, &str, usize)> = s
            .iter()
            .map(|p| (p.number, p.file.as_str(), p.line))
            .collect();
        assert_eq!(
            got,
            [
                (0, "not-a-series?", 2),
                (1001, "b.patch", 4),
                (201, "a.patch", 5)
            ]
        );
    }

    /// rpm reads tag names in any case, allows blanks before the colon and numbers an
    /// unnumbered `Patch:` one past the highest so far (checked with `rpmspec -P`).
    #[test]
    fn tag_names_are_read_as_rpm_reads_them() {
        let spec =
            "PAtch0651: a.patch\npatch3 : b.patch\nPATCH: c.patch\nPatchy: no\n# Patch9: no\n";
        let s = parse_series(Path::new("xen.spec.in"), spec).unwrap();
        let got: Vec<(u32, &str)> = s.iter().map(|p| (p.number, p.file.as_str())).collect();
        assert_eq!(got, [(651, "a.patch"), (3, "b.patch"), (652, "c.patch")]);
    }

    #[test]
    fn duplicate_number_is_an_error_with_line() {
        let spec = "Patch0500: a.patch\nPatch0500: b.patch\n";
        let e = parse_series(Path::new("x/xen.spec.in"), spec)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x/xen.spec.in:2: patch number 500 is already used on line 1"
        );
    }

    #[test]
    fn empty_series_and_bad_files_are_errors() {
        assert!(parse_series(Path::new("s"), "Name: xen\n").is_err());
        assert!(parse_series(Path::new("s"), "Patch0001: ../evil.patch\n").is_err());
        assert!(parse_series(Path::new("s"), "Patch0001: a.patch b.patch\n").is_err());
        assert!(parse_series(Path::new("s"), "Patch0001:\n").is_err());
    }
}
