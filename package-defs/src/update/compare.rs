//! Old pins against new ones: the patch series (added, dropped, renamed, changed), the
//! security patches, the config symbols and the spec's configure flags.

use std::path::Path;

use super::read::spec_flags;
use super::report::{Change, PatchReport, Renamed, SecurityReport};
use super::{Fetched, Target, SECURITY_RANGE};
use crate::defs::model::PatchPin;
use crate::defs::spec::QubesTree;

/// Everything the comparison found, for the report.
#[derive(Debug, Clone)]
pub struct Compared {
    pub patches: PatchReport,
    pub security: SecurityReport,
    /// Symbol-level diff; `None` when the old config was not available.
    pub config_changes: Option<Vec<xen_config::dotconfig::SymbolChange>>,
    pub spec_configure_flags: Option<Change<Vec<String>>>,
}

/// Compares the pinned data of `t` with the new tree and its hashed series.
pub fn compare(t: &Target<'_>, tree: &QubesTree, f: &Fetched, new: &[PatchPin]) -> Compared {
    let patches = compare_series(&t.data.patches, new, tree.unlisted.clone());
    let security = security(&t.data.patches, new, &patches);
    let (config_changes, spec_configure_flags) = match &f.old_qubes_dir {
        Some(old) => (
            config_diff(&old.join(&t.data.config.file), &tree.config),
            flags_diff(old, &f.qubes_dir),
        ),
        None => (None, None),
    };
    Compared {
        patches,
        security,
        config_changes,
        spec_configure_flags,
    }
}

fn config_diff(old: &Path, new: &Path) -> Option<Vec<xen_config::dotconfig::SymbolChange>> {
    let old_cfg = std::fs::read(old).ok();
    let new_cfg = std::fs::read(new).ok();
    old_cfg
        .zip(new_cfg)
        .map(|(o, n)| xen_config::dotconfig::diff(&o, &n))
}

/// Flags removed (`old`) and added (`new`) between two spec trees.
fn flags_diff(old: &Path, new: &Path) -> Option<Change<Vec<String>>> {
    spec_flags(old).zip(spec_flags(new)).map(|(o, n)| {
        let added = n.iter().filter(|x| !o.contains(x)).cloned().collect();
        let removed = o.iter().filter(|x| !n.contains(x)).cloned().collect();
        Change {
            old: removed,
            new: added,
        }
    })
}

fn compare_series(old: &[PatchPin], new: &[PatchPin], unlisted: Vec<String>) -> PatchReport {
    let mut r = PatchReport {
        unlisted,
        ..Default::default()
    };
    let mut old_left: Vec<&PatchPin> = old.iter().collect();
    let mut new_left = Vec::new();
    for n in new {
        if let Some(i) = old_left.iter().position(|o| o.file == n.file) {
            if old_left[i].sha256 != n.sha256 {
                r.changed.push(n.file.clone());
            }
            old_left.remove(i);
        } else {
            new_left.push(n);
        }
    }
    for n in new_left {
        if let Some(i) = old_left.iter().position(|o| o.sha256 == n.sha256) {
            r.renamed.push(Renamed {
                old: old_left[i].file.clone(),
                new: n.file.clone(),
            });
            old_left.remove(i);
        } else {
            r.added.push(n.file.clone());
        }
    }
    r.dropped = old_left.into_iter().map(|o| o.file.clone()).collect();
    r
}

fn security(old: &[PatchPin], new: &[PatchPin], patches: &PatchReport) -> SecurityReport {
    let in_series = new
        .iter()
        .filter(|p| SECURITY_RANGE.contains(&p.number))
        .map(|p| p.file.clone())
        .collect();
    let dropped: Vec<String> = old
        .iter()
        .filter(|p| SECURITY_RANGE.contains(&p.number) && patches.dropped.contains(&p.file))
        .map(|p| p.file.clone())
        .collect();
    SecurityReport {
        in_series,
        all_present: dropped.is_empty(),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(n: u32, f: &str, s: &str) -> PatchPin {
        PatchPin {
            number: n,
            file: f.into(),
            sha256: s.into(),
        }
    }

    #[test]
    fn series_comparison_classifies_every_patch() {
        let old = [
            pin(201, "0201-a.patch", "A"),
            pin(500, "0500-xsa1.patch", "X1"),
            pin(501, "0501-xsa2.patch", "X2"),
            pin(1000, "1000-q.patch", "Q"),
        ];
        let new = [
            pin(201, "0201-a.patch", "A2"),
            pin(502, "0502-xsa2.patch", "X2"),
            pin(503, "0503-xsa3.patch", "X3"),
            pin(1000, "1000-q.patch", "Q"),
        ];
        let r = compare_series(&old, &new, vec![]);
        assert_eq!(r.changed, ["0201-a.patch"]);
        assert_eq!(r.renamed.len(), 1);
        assert_eq!(
            (r.renamed[0].old.as_str(), r.renamed[0].new.as_str()),
            ("0501-xsa2.patch", "0502-xsa2.patch")
        );
        assert_eq!(r.added, ["0503-xsa3.patch"]);
        assert_eq!(r.dropped, ["0500-xsa1.patch"]);
        let s = security(&old, &new, &r);
        assert!(!s.all_present);
        assert_eq!(s.dropped, ["0500-xsa1.patch"]);
        assert_eq!(s.in_series, ["0502-xsa2.patch", "0503-xsa3.patch"]);
    }
}
