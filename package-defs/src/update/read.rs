//! Where an update reads its inputs: the Qubes spec tree (checked against the version asked
//! for) and what the upstream tree says about itself.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Fetched, Target, UpdateError};
use crate::defs::spec::{self, QubesTree};

/// Reads the Qubes data tree at the new ref; its `version`/`rel` files must say what was
/// asked for (a server serving another release under the tag is refused).
pub fn qubes_tree(t: &Target<'_>, f: &Fetched) -> Result<QubesTree, UpdateError> {
    let tree: QubesTree = spec::read_tree(&f.qubes_dir)?;
    if tree.version != t.version {
        return Err(match &t.commit {
            Some(c) => UpdateError::CommitMismatch {
                commit: c.clone(),
                found: tree.version,
                expected: t.version.clone(),
            },
            None => UpdateError::TagMismatch {
                tag: format!("{} tag {}", t.xen.stream.repo, t.version.tag()),
                found: tree.version,
                expected: t.version.clone(),
            },
        });
    }
    Ok(tree)
}

/// A file of the upstream tree, or an error that asks whether this is a Xen tree.
fn xen_file(path: &Path) -> Result<String, UpdateError> {
    std::fs::read_to_string(path).map_err(|e| UpdateError::Tree {
        path: path.to_path_buf(),
        message: format!("cannot read ({e}); is this a Xen tree?"),
    })
}

/// Reads `__XEN_LATEST_INTERFACE_VERSION__` from an upstream tree.
pub fn read_hv_abi(upstream: &Path) -> Result<String, UpdateError> {
    let path = upstream.join("xen/include/public/xen-compat.h");
    let text = xen_file(&path)?;
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("#define __XEN_LATEST_INTERFACE_VERSION__")
        })
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| v.starts_with("0x"))
        .map(|v| {
            if v.len() < 10 {
                format!("0x{:0>8}", &v[2..])
            } else {
                v
            }
        })
        .ok_or_else(|| UpdateError::Tree {
            path,
            message: "no `#define __XEN_LATEST_INTERFACE_VERSION__ 0x...` line".into(),
        })
}

/// The Xen version a tree says it is, from `xen/Makefile`'s `XEN_VERSION`, `XEN_SUBVERSION`
/// and `XEN_EXTRAVERSION` (without `$(XEN_VENDORVERSION)`): `4.17.6`, or `4.19.0-rc` for a
/// candidate (the Makefile carries no rc number).
pub fn read_xen_version(upstream: &Path) -> Result<String, UpdateError> {
    let xen_dir = upstream.join("xen");
    // xen-config's reader (what its olddefconfig sets XEN_VERSION from), vendor version empty.
    xen_config::xen_env::xen_version(&xen_dir, "").map_err(|e| UpdateError::Tree {
        path: xen_dir.join("Makefile"),
        message: e.to_string(),
    })
}

/// What `xen/Makefile` says for Xen `v` (see [`read_xen_version`]).
pub fn makefile_version(v: &crate::defs::version::XenVersion) -> String {
    match v.rc {
        None => v.to_string(),
        Some(_) => format!("{}.{}.{}-rc", v.major, v.minor, v.patch),
    }
}

/// `--enable-*`, `--disable-*`, `--with-*`, `--without-*` options a spec mentions.
pub fn spec_flags(tree: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(tree.join(spec::SPEC_FILE)).ok()?;
    let set: BTreeSet<String> = text
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter(|w| {
            ["--enable-", "--disable-", "--with-", "--without-"]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    Some(set.into_iter().collect())
}
