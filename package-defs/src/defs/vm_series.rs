//! The VM-side patch series: the subset of Qubes' patches that Qubes' own Arch recipe applies
//! to build Xen's guest tools (among them `1020-xen-tools-qubes-vm.patch`, which the RPM spec
//! never lists). Read from the recipe in the data tree, never hard-coded.
//!
//! Two recipe shapes exist in the real repository:
//! - `archlinux/PKGBUILD.in` (v4.17.0-9 on): a `_patches=( … )` array that `prepare()` applies
//!   in order with `for p in "${_patches[@]}"; do patch … -i "${srcdir}/$p"; done`;
//! - `archlinux/PKGBUILD` (v4.17.0-rc3-1 to v4.17.0-8): `build()` runs
//!   `$srcdir/apply-patches $srcdir/series-vm.conf .`, which applies the non-comment lines of
//!   `series-vm.conf` in order.
//!
//! Any other shape is refused with the recipe's name rather than guessed at.

use std::path::{Path, PathBuf};

use crate::defs::spec::SpecError;

/// The Arch recipe template, where current tags keep it.
pub const ARCH_RECIPE: &str = "archlinux/PKGBUILD.in";
/// The recipe of the first 4.17 tags, which defers to `apply-patches` and a series file.
pub const OLD_ARCH_RECIPE: &str = "archlinux/PKGBUILD";

/// One patch the recipe applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VmPatch {
    /// File name at the top of the data tree.
    pub file: String,
    /// 1-based line of `listed_in` that names it.
    pub line: usize,
}

/// The VM-side series of one data tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VmSeries {
    /// The recipe, relative to the tree.
    pub recipe: PathBuf,
    /// The file that lists the patches (the recipe itself, or its series file).
    pub listed_in: PathBuf,
    /// `patch`'s options as the recipe gives them (e.g. `-s -F0 -E -p1 --no-backup-if-mismatch`).
    pub patch_args: Vec<String>,
    /// The patches in the order they are applied.
    pub patches: Vec<VmPatch>,
}

fn read(root: &Path, rel: &str) -> Result<String, SpecError> {
    let path = root.join(rel);
    std::fs::read_to_string(&path).map_err(|source| SpecError::Read { path, source })
}

/// Reads the VM-side series of the Qubes data tree at `root`, checking that every patch it
/// names is a file in the tree.
pub fn read_tree(root: &Path) -> Result<VmSeries, SpecError> {
    let series = if root.join(ARCH_RECIPE).is_file() {
        let text = read(root, ARCH_RECIPE)?;
        parse_pkgbuild_in(&root.join(ARCH_RECIPE), &text)?
    } else if root.join(OLD_ARCH_RECIPE).is_file() {
        let text = read(root, OLD_ARCH_RECIPE)?;
        let (series_file, line) = apply_patches_series(&root.join(OLD_ARCH_RECIPE), &text)?;
        let script = read(root, "apply-patches")?;
        let patch_args = patch_args_in(&script).ok_or_else(|| SpecError::Invalid {
            path: root.join("apply-patches"),
            message: "no `patch … -i` command found; expected Qubes' apply-patches script".into(),
        })?;
        let listed = read(root, &series_file).map_err(|e| match e {
            SpecError::Read { path, source } => SpecError::Malformed {
                path: root.join(OLD_ARCH_RECIPE),
                line,
                message: format!("names series file {} ({source})", path.display()),
            },
            other => other,
        })?;
        let patches = parse_series_conf(&root.join(&series_file), &listed)?;
        VmSeries {
            recipe: OLD_ARCH_RECIPE.into(),
            listed_in: series_file.into(),
            patch_args,
            patches,
        }
    } else {
        return Err(SpecError::Invalid {
            path: root.to_path_buf(),
            message: format!(
                "no Arch recipe ({ARCH_RECIPE} or {OLD_ARCH_RECIPE}); is this a QubesOS/qubes-vmm-xen tree?"
            ),
        });
    };
    for p in &series.patches {
        if !root.join(&p.file).is_file() {
            return Err(SpecError::Malformed {
                path: root.join(&series.listed_in),
                line: p.line,
                message: format!("names patch {} that is not in the tree", p.file),
            });
        }
    }
    Ok(series)
}

/// A patch name as the recipe may spell it: one plain file name, optionally quoted.
fn file_word(path: &Path, line: usize, word: &str) -> Result<String, SpecError> {
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| word.strip_prefix(*q).and_then(|w| w.strip_suffix(*q)))
        .unwrap_or(word);
    let plain = !unquoted.is_empty()
        && !unquoted.starts_with('.')
        && unquoted
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+,".contains(&b));
    if !plain {
        return Err(SpecError::Malformed {
            path: path.into(),
            line,
            message: format!(
                "expected a patch file name (letters, digits, -_.+,), found `{word}`; the reader does not expand shell"
            ),
        });
    }
    Ok(unquoted.to_string())
}

/// `_patches=( … )` and the `prepare()` loop that applies it.
fn parse_pkgbuild_in(path: &Path, text: &str) -> Result<VmSeries, SpecError> {
    let malformed = |line: usize, message: String| SpecError::Malformed {
        path: path.into(),
        line,
        message,
    };
    let mut patches = Vec::new();
    let mut start = None;
    let mut closed = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if start.is_none() {
            if l.starts_with("_patches+=") {
                return Err(malformed(
                    line,
                    "`_patches+=` is not understood; expected one `_patches=( … )` array".into(),
                ));
            }
            let Some(rest) = l.strip_prefix("_patches=(") else {
                continue;
            };
            start = Some(line);
            closed = words_until_paren(path, line, rest, &mut patches)?;
        } else if !closed {
            closed = words_until_paren(path, line, l, &mut patches)?;
        } else if l.starts_with("_patches=") || l.starts_with("_patches+=") {
            return Err(malformed(
                line,
                "`_patches` is set again; expected one `_patches=( … )` array".into(),
            ));
        }
    }
    let Some(start) = start else {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: "no `_patches=(` array; expected Qubes' Arch recipe".into(),
        });
    };
    if !closed {
        return Err(malformed(
            start,
            "`_patches=(` is never closed with `)`".into(),
        ));
    }
    if patches.is_empty() {
        return Err(malformed(start, "`_patches=( )` lists no patch".into()));
    }
    // The array only counts if prepare() applies it, element by element, in order.
    let body = function_body(text, "prepare()").ok_or_else(|| SpecError::Invalid {
        path: path.into(),
        message: "no prepare() function; expected it to apply \"${_patches[@]}\"".into(),
    })?;
    let var = body.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("for ")?;
        let (var, list) = rest.split_once(" in ")?;
        let list = list.trim_end_matches("; do").trim();
        (list == "\"${_patches[@]}\"").then(|| var.trim().to_string())
    });
    let Some(var) = var else {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: "prepare() has no `for p in \"${_patches[@]}\"` loop; the reader knows only that shape".into(),
        });
    };
    let applies = body.lines().any(|l| {
        let l = l.trim();
        l.starts_with("patch ")
            && (l.ends_with(&format!("-i \"${{srcdir}}/${var}\""))
                || l.ends_with(&format!("-i \"$srcdir/${var}\"")))
    });
    let patch_args = patch_args_in(body).filter(|_| applies).ok_or_else(|| SpecError::Invalid {
        path: path.into(),
        message: format!(
            "prepare()'s loop over \"${{_patches[@]}}\" does not run `patch … -i \"${{srcdir}}/${var}\"`"
        ),
    })?;
    Ok(VmSeries {
        recipe: ARCH_RECIPE.into(),
        listed_in: ARCH_RECIPE.into(),
        patch_args,
        patches,
    })
}

/// Adds the words of `rest` (up to a closing `)`, comments dropped) to `out`; true if closed.
fn words_until_paren(
    path: &Path,
    line: usize,
    rest: &str,
    out: &mut Vec<VmPatch>,
) -> Result<bool, SpecError> {
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (inside, closed) = match rest.split_once(')') {
        Some((inside, after)) => {
            if !after.trim().is_empty() {
                return Err(SpecError::Malformed {
                    path: path.into(),
                    line,
                    message: format!("unexpected `{}` after `)`", after.trim()),
                });
            }
            (inside, true)
        }
        None => (rest, false),
    };
    for word in inside.split_whitespace() {
        out.push(VmPatch {
            file: file_word(path, line, word)?,
            line,
        });
    }
    Ok(closed)
}

/// The text between `name {` (at the start of a line) and the next line that is `}`.
fn function_body<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.lines().position(|l| {
        l.trim_start()
            .strip_prefix(name)
            .is_some_and(|r| r.trim() == "{")
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_end() == "}")?
        + start
        + 1;
    let from = lines[..=start].iter().map(|l| l.len() + 1).sum::<usize>();
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>();
    text.get(from..to)
}

/// The options between `patch ` and ` -i` on the first line that runs patch with `-i`.
fn patch_args_in(text: &str) -> Option<Vec<String>> {
    text.lines().find_map(|l| {
        let at = l.find("patch -")?;
        let rest = &l[at + "patch ".len()..];
        let (args, _) = rest.split_once(" -i ")?;
        Some(args.split_whitespace().map(str::to_string).collect())
    })
}

/// The series file the old recipe hands to `apply-patches`, and the line doing so.
fn apply_patches_series(path: &Path, text: &str) -> Result<(String, usize), SpecError> {
    for (i, l) in text.lines().enumerate() {
        let mut words = l.split_whitespace();
        let Some(cmd) = words.next() else { continue };
        if !cmd.ends_with("/apply-patches") {
            continue;
        }
        let series = words.next().unwrap_or("");
        let name = series
            .strip_prefix("$srcdir/")
            .or_else(|| series.strip_prefix("${srcdir}/"))
            .unwrap_or(series);
        return Ok((file_word(path, i + 1, name)?, i + 1));
    }
    Err(SpecError::Invalid {
        path: path.into(),
        message: format!(
            "no `$srcdir/apply-patches SERIES .` line and no {ARCH_RECIPE}; the reader knows only those shapes"
        ),
    })
}

/// `series-vm.conf`: one patch per line; blank lines and `#` comments skipped (as
/// apply-patches' `egrep -v '^\s*#|^\s*$'` does).
fn parse_series_conf(path: &Path, text: &str) -> Result<Vec<VmPatch>, SpecError> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        out.push(VmPatch {
            file: file_word(path, i + 1, t)?,
            line: i + 1,
        });
    }
    if out.is_empty() {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: "lists no patch".into(),
        });
    }
    Ok(out)
}

/// The flags the recipe passes to `./configure` (continuation lines joined), without the
/// install paths (`--prefix`, `--sbindir`, `--libdir`, …), which a private prefix replaces.
pub fn recipe_configure_flags(root: &Path, series: &VmSeries) -> Result<Vec<String>, SpecError> {
    let path = root.join(&series.recipe);
    let text = std::fs::read_to_string(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    configure_flags_in(&text).ok_or_else(|| SpecError::Invalid {
        path,
        message: "no `./configure` line found; expected the recipe's build() to run it".into(),
    })
}

/// Words after `./configure` on its line and the `\`-continued lines after it.
fn configure_flags_in(text: &str) -> Option<Vec<String>> {
    const PATHS: [&str; 7] = [
        "--prefix",
        "--exec-prefix",
        "--sbindir",
        "--bindir",
        "--libdir",
        "--libexecdir",
        "--includedir",
    ];
    let mut lines = text.lines();
    let first = lines.find(|l| l.trim_start().starts_with("./configure"))?;
    let mut words = Vec::new();
    let mut line = first.trim_start().trim_start_matches("./configure");
    loop {
        let (body, more) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        words.extend(body.split_whitespace().map(str::to_string));
        if !more {
            break;
        }
        line = lines.next().unwrap_or("");
    }
    words.retain(|w| !PATHS.iter().any(|p| w.split('=').next() == Some(*p)));
    Some(words)
}

/// The VM-side series of a package's pinned Qubes data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinnedVmSeries {
    /// The data package whose tree was read.
    pub data: String,
    pub repo: String,
    /// The signed tag, or `None` for a stream pinned to a commit.
    pub tag: Option<String>,
    pub commit: String,
    #[serde(flatten)]
    pub series: VmSeries,
}

/// Fetches the pinned Qubes data of `name` (a xen package or a data package) as `verify`
/// does (signed tag checked and compared with the pinned commit) into `work`, and reads its
/// VM-side series.
pub fn for_package(
    defs: &crate::Definitions,
    name: &str,
    sources: &dyn crate::sources::fetch::Sources,
    work: &Path,
) -> anyhow::Result<PinnedVmSeries> {
    let pkg = defs
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("unknown package '{name}'"))?;
    let (data_name, data) = match (pkg.as_data(), pkg.as_xen()) {
        (Some(d), _) => (name.to_string(), d),
        (None, Some(x)) => {
            let d = defs.get(&x.data).and_then(|d| d.as_data()).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: data package '{}' is not a qubes-data package",
                    pkg.path.display(),
                    x.data
                )
            })?;
            (x.data.clone(), d)
        }
        (None, None) => anyhow::bail!("package '{name}' has no Qubes data"),
    };
    let s = &data.source;
    let dest = work.join("qubes-data");
    crate::sources::verify::fetch_data(&defs.dir, sources, s, &dest)?;
    let series = read_tree(&dest).map_err(|e| {
        anyhow::anyhow!(
            "{e} (in {} at {})",
            s.repo,
            s.tag.as_deref().unwrap_or(&s.commit)
        )
    })?;
    Ok(PinnedVmSeries {
        data: data_name,
        repo: s.repo.clone(),
        tag: s.tag.clone(),
        commit: s.commit.clone(),
        series,
    })
}

/// The text `package-defs show PACKAGE --vm-series` prints.
pub fn render(p: &PinnedVmSeries) -> String {
    let mut out = format!(
        "{} {} ({}): {} applies {} patches with `patch {}`\n",
        p.data,
        p.tag.as_deref().unwrap_or("(untagged commit)"),
        p.commit,
        p.series.recipe.display(),
        p.series.patches.len(),
        p.series.patch_args.join(" ")
    );
    for (i, patch) in p.series.patches.iter().enumerate() {
        out.push_str(&format!("{:>3} {}\n", i + 1, patch.file));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = "pkgname=x\n_patches=(\n  a.patch # first\n  \"b.patch\"\n)\nsource=(x \"${_patches[@]}\")\n\nprepare() {\n    cd \"${pkgbase}\"\n    for p in \"${_patches[@]}\"; do\n        patch -s -F0 -p1 -i \"${srcdir}/$p\"\n    done\n}\n";

    #[test]
    fn array_order_lines_and_patch_options() {
        let s = parse_pkgbuild_in(Path::new("PKGBUILD.in"), RECIPE).unwrap();
        let got: Vec<(&str, usize)> = s
            .patches
            .iter()
            .map(|p| (p.file.as_str(), p.line))
            .collect();
        assert_eq!(got, [("a.patch", 3), ("b.patch", 4)]);
        assert_eq!(s.patch_args, ["-s", "-F0", "-p1"]);
    }

    #[test]
    fn shapes_the_reader_does_not_know_are_refused_by_line() {
        let p = Path::new("r/PKGBUILD.in");
        let e = |t: &str| parse_pkgbuild_in(p, t).unwrap_err().to_string();
        assert_eq!(
            e(&RECIPE.replace("  \"b.patch\"\n", "  \"b.patch\"\n  $EXTRA\n")),
            "r/PKGBUILD.in:5: expected a patch file name (letters, digits, -_.+,), found `$EXTRA`; the reader does not expand shell"
        );
        assert!(e(&RECIPE.replace("for p in", "for q in")).contains("does not run `patch"));
        assert!(
            e(&RECIPE.replace("\"${_patches[@]}\"; do", "*.patch; do")).contains("no `for p in")
        );
        assert!(
            e(&format!("{RECIPE}_patches+=(c.patch)\n")).contains(":14: `_patches` is set again")
        );
        assert!(e("x=1\n_patches=(\n  a.patch\n").contains(":2: `_patches=(` is never closed"));
        assert!(e(&RECIPE.replace("a.patch", "../a.patch")).contains("found `../a.patch`"));
    }

    #[test]
    fn configure_flags_join_continuations_and_drop_install_paths() {
        let text = "build() {\n  autoreconf\n  ./configure --prefix=/usr \\\n     --libdir=/usr/lib \\\n     --disable-pvshim \\\n     --disable-blktap2\n  make\n}\n";
        assert_eq!(
            configure_flags_in(text).unwrap(),
            ["--disable-pvshim", "--disable-blktap2"]
        );
        assert_eq!(configure_flags_in("make\n"), None);
    }

    #[test]
    fn series_conf_skips_comments_and_blank_lines() {
        let s = parse_series_conf(Path::new("s"), "# c\n\na.patch\n  # d\nb.patch\n").unwrap();
        let got: Vec<(&str, usize)> = s.iter().map(|p| (p.file.as_str(), p.line)).collect();
        assert_eq!(got, [("a.patch", 3), ("b.patch", 5)]);
        let (f, line) = apply_patches_series(
            Path::new("P"),
            "build() {\n  $srcdir/apply-patches $srcdir/series-vm.conf .\n}\n",
        )
        .unwrap();
        assert_eq!((f.as_str(), line), ("series-vm.conf", 2));
    }
}
