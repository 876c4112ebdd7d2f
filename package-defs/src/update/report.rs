//! What an update changes, as data (`--json`, see docs/json.md) and as text.

use std::path::Path;

use serde::Serialize;

use super::compare::Compared;
use super::write::Written;
use super::{Fetched, Target};
use crate::defs::txn::FileChange;

#[derive(Debug, Clone, Serialize)]
pub struct Renamed {
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PatchReport {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
    /// Same content under a new name (usually renumbered).
    pub renamed: Vec<Renamed>,
    /// Same name, new content.
    pub changed: Vec<String>,
    /// `*.patch` files in the tree that the spec does not list (ignored).
    pub unlisted: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityReport {
    /// Security (500–599) patches in the new series.
    pub in_series: Vec<String>,
    /// Security patches of the old series that the new one lacks (fine only when the new
    /// Xen release contains those fixes).
    pub dropped: Vec<String>,
    pub all_present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub package: String,
    pub data_package: String,
    pub version: Change<String>,
    /// `None` for data pinned by commit (a stream following an unmerged branch).
    pub qubes_tag: Change<Option<String>>,
    /// Whether the new Qubes data came with a signature that was checked (a signed tag); data
    /// at a commit of an unmerged branch has none.
    pub qubes_signed: bool,
    pub qubes_commit: Change<String>,
    pub upstream_tag: Change<String>,
    /// `git` or `tarball`: where upstream Xen was fetched from.
    pub upstream_origin: String,
    /// `"unpinned"` when the tarball is the origin (no git fetch).
    pub upstream_commit: Change<String>,
    pub patches: PatchReport,
    pub security: SecurityReport,
    pub config_sha256: Change<String>,
    /// Symbol-level diff; `None` when the old config was not available.
    pub config_changes: Option<Vec<xen_config::dotconfig::SymbolChange>>,
    pub hv_abi: Change<String>,
    /// configure options in the spec that appeared/disappeared (review `configure_flags`).
    pub spec_configure_flags: Option<Change<Vec<String>>>,
    pub files: Vec<String>,
}

/// The report of the update of `t`, from the comparison and the rewritten definitions.
pub fn report(
    t: &Target<'_>,
    f: &Fetched,
    compared: Compared,
    config_sha256: String,
    hv_abi: String,
    written: &Written,
) -> Report {
    let new_tag = written.new_tag.clone();
    Report {
        package: t.xen_pkg.name.clone(),
        data_package: t.data_pkg.name.clone(),
        version: Change {
            old: t.xen_pkg.version.to_string(),
            new: t.version.to_string(),
        },
        qubes_signed: new_tag.is_some(),
        qubes_tag: Change {
            old: t.data.source.tag.clone(),
            new: new_tag,
        },
        qubes_commit: Change {
            old: t.data.source.commit.clone(),
            new: f.qubes_commit.clone(),
        },
        upstream_tag: Change {
            old: t.xen.upstream.tag.clone(),
            new: t.version.xen.upstream_tag(),
        },
        upstream_origin: t.xen.upstream.origin.as_str().to_string(),
        upstream_commit: Change {
            old: pinned_or_not(&t.xen.upstream.commit),
            new: pinned_or_not(&f.upstream_commit),
        },
        patches: compared.patches,
        security: compared.security,
        config_sha256: Change {
            old: t.data.config.sha256.clone(),
            new: config_sha256,
        },
        config_changes: compared.config_changes,
        hv_abi: Change {
            old: t.xen.hv_abi.clone(),
            new: hv_abi,
        },
        spec_configure_flags: compared.spec_configure_flags,
        files: written.files.clone(),
    }
}

fn pinned_or_not(v: &Option<String>) -> String {
    v.clone()
        .unwrap_or_else(|| crate::defs::model::UNPINNED.to_string())
}

/// Human-readable report.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let arrow = |s: &mut String, what: &str, c: &Change<String>| {
        if c.old == c.new {
            let _ = writeln!(s, "  {what}: {} (unchanged)", c.old);
        } else {
            let _ = writeln!(s, "  {what}: {} -> {}", c.old, c.new);
        }
    };
    let _ = writeln!(s, "{} (data: {})", r.package, r.data_package);
    arrow(&mut s, "version", &r.version);
    let tag = |t: &Option<String>| t.clone().unwrap_or_else(|| "(untagged commit)".into());
    arrow(
        &mut s,
        "qubes tag",
        &Change {
            old: tag(&r.qubes_tag.old),
            new: tag(&r.qubes_tag.new),
        },
    );
    arrow(&mut s, "qubes commit", &r.qubes_commit);
    if !r.qubes_signed {
        let _ = writeln!(
            s,
            "  qubes data: UNSIGNED (a commit of an unmerged branch has no signed tag; pinned by commit id only)"
        );
    }
    arrow(&mut s, "upstream tag", &r.upstream_tag);
    let _ = writeln!(s, "  upstream origin: {}", r.upstream_origin);
    arrow(&mut s, "upstream commit", &r.upstream_commit);
    arrow(&mut s, "hv_abi", &r.hv_abi);
    let p = &r.patches;
    let _ = writeln!(
        s,
        "  patches: {} added, {} dropped, {} renamed, {} changed",
        p.added.len(),
        p.dropped.len(),
        p.renamed.len(),
        p.changed.len()
    );
    for a in &p.added {
        let _ = writeln!(s, "    + {a}");
    }
    for d in &p.dropped {
        let _ = writeln!(s, "    - {d}");
    }
    for rn in &p.renamed {
        let _ = writeln!(s, "    ~ {} -> {}", rn.old, rn.new);
    }
    for c in &p.changed {
        let _ = writeln!(s, "    * {c}");
    }
    if !p.unlisted.is_empty() {
        let _ = writeln!(s, "  not in the spec (ignored): {}", p.unlisted.join(", "));
    }
    if r.security.all_present {
        let _ = writeln!(
            s,
            "  security patches: all of the old series kept ({} in the new series)",
            r.security.in_series.len()
        );
    } else {
        let _ = writeln!(
            s,
            "  security patches DROPPED (check the new Xen release contains these fixes): {}",
            r.security.dropped.join(", ")
        );
    }
    arrow(&mut s, "config sha256", &r.config_sha256);
    match &r.config_changes {
        Some(c) if c.is_empty() => {
            let _ = writeln!(s, "  config symbols: no changes");
        }
        Some(c) => {
            let _ = writeln!(s, "  config symbols: {} changed", c.len());
            for ch in c {
                let _ = writeln!(
                    s,
                    "    CONFIG_{}: {} -> {}",
                    ch.symbol,
                    ch.old.as_deref().unwrap_or("(absent)"),
                    ch.new.as_deref().unwrap_or("(absent)")
                );
            }
        }
        None => {
            let _ = writeln!(s, "  config symbols: old config not available for a diff");
        }
    }
    if let Some(f) = &r.spec_configure_flags {
        if f.old.is_empty() && f.new.is_empty() {
            let _ = writeln!(s, "  spec configure flags: unchanged");
        } else {
            let _ = writeln!(
                s,
                "  spec configure flags: removed [{}], added [{}] — review `configure_flags`",
                f.old.join(" "),
                f.new.join(" ")
            );
        }
    }
    let _ = writeln!(s, "  files: {}", r.files.join(", "));
    s
}

/// Unified diff of the planned file changes (for `--diff`).
pub fn diff(dir: &Path, changes: &[FileChange]) -> String {
    let mut out = String::new();
    for c in changes {
        let name = dir.join(&c.name).display().to_string();
        let d = similar::TextDiff::from_lines(&c.old_text, &c.new_text);
        out.push_str(
            &d.unified_diff()
                .context_radius(2)
                .header(&name, &name)
                .to_string(),
        );
    }
    out
}
