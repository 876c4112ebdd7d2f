//! Where every hash of an update is computed, all through `content-hash`: sha256 of each
//! patch and of the config, NAR hashes of the Qubes data tree and the upstream git tree.

use std::path::Path;

use super::{Fetched, UpdateError};
use crate::defs::model::PatchPin;
use crate::defs::spec::QubesTree;

/// The hashes the new pins carry.
#[derive(Debug, Clone)]
pub struct Hashes {
    /// The spec's patch series, each with its sha256.
    pub patches: Vec<PatchPin>,
    pub config_sha256: String,
    pub qubes_nar: String,
    /// `None` when the tarball was the origin.
    pub upstream_nar: Option<String>,
}

/// Hashes the series, the config and both trees.
pub fn inputs(tree: &QubesTree, f: &Fetched) -> Result<Hashes, UpdateError> {
    let mut patches = Vec::with_capacity(tree.series.len());
    for p in &tree.series {
        patches.push(PatchPin {
            number: p.number,
            file: p.file.clone(),
            sha256: sha256_file(&f.qubes_dir.join(&p.file))?,
        });
    }
    let config_sha256 = sha256_file(&tree.config)?;
    let qubes_nar = nar(&f.qubes_dir)?;
    // The NAR hash pins the git tree; a tree unpacked from the tarball is not that tree
    // (release tarballs add files), so it is not hashed as one.
    let upstream_nar = match &f.upstream_commit {
        Some(_) => Some(nar(&f.upstream_dir)?),
        None => None,
    };
    Ok(Hashes {
        patches,
        config_sha256,
        qubes_nar,
        upstream_nar,
    })
}

fn sha256_file(path: &Path) -> Result<String, UpdateError> {
    content_hash::hash_file(path)
        .map(|(d, _)| d.to_hex())
        .map_err(|e| UpdateError::Tree {
            path: path.into(),
            message: format!("cannot hash: {e}"),
        })
}

fn nar(path: &Path) -> Result<String, UpdateError> {
    content_hash::nar_hash(path)
        .map(|d| d.to_nix_base32())
        .map_err(|e| UpdateError::Tree {
            path: path.into(),
            message: format!("cannot compute the NAR hash: {e}"),
        })
}
