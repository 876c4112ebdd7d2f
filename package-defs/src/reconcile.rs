//! `package-defs reconcile`: reconciling a definition with xen-config. The definition knows
//! the Xen version, Qubes' config (by its sha256 pin) and the tools `configure` flags;
//! `package-defs prepare` puts the patched tree with the config installed as `xen/.config` in
//! `vendor/<package>-<version>-<rel>/`. Data flows definitions -> prepared tree -> xen-config
//! (a leaf library that knows nothing of definitions), so this glue lives here: it reads
//! both, checks that the tree's config is the one the definition pins, and hands xen-config
//! a tree, a config and the definition's flags.
use std::path::{Path, PathBuf};

use crate::{load_dir, Definitions, LoadError};

/// Why a definition cannot be reconciled; each message names the file or package and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PackageInputError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: no package '{name}'; known: {known}", dir.display())]
    Unknown {
        dir: PathBuf,
        name: String,
        known: String,
    },
    #[error("'{name}' is a qubes-data package; reconcile the xen package that uses it ({users})")]
    DataPackage { name: String, users: String },
    #[error("{}: '{name}' names data package '{data}', which is missing or not a qubes-data package", path.display())]
    NoData {
        path: PathBuf,
        name: String,
        data: String,
    },
    #[error("{}: no prepared tree for {name} {version}; run `{fix}` first", tree.display())]
    NotPrepared {
        tree: PathBuf,
        name: String,
        version: String,
        fix: String,
    },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    ConfigPin(Box<ConfigPinMismatch>),
}

/// The prepared tree's `xen/.config` is not the config the definition pins.
#[derive(Debug, thiserror::Error)]
#[error("{}: sha256 is {found}, but {} pins {pinned} for {file}; the tree was prepared from other data or its config was changed since (e.g. by `make olddefconfig`): remove {} and run `{fix}`", path.display(), def.display(), tree.display())]
pub struct ConfigPinMismatch {
    pub path: PathBuf,
    pub def: PathBuf,
    pub file: String,
    pub pinned: String,
    pub found: String,
    pub tree: PathBuf,
    pub fix: String,
}

/// Everything reconcile needs, taken from a definition and its prepared tree.
#[derive(Debug, Clone)]
pub struct PackageInput {
    pub name: String,
    pub version: String,
    /// The prepared tree (Xen source root, holds `tools/configure.ac`).
    pub source_root: PathBuf,
    /// Its `xen/` directory.
    pub xen_dir: PathBuf,
    /// `xen/.config`, checked against the data package's pin.
    pub config_path: PathBuf,
    pub config: Vec<u8>,
    /// The definition's tools `configure` flags.
    pub configure_flags: Vec<String>,
    /// The definition file (for messages and as the flags' source).
    pub definition: PathBuf,
}

/// Loads `definitions`, finds the xen package `name` and its prepared tree under `vendor`.
pub fn load(
    definitions: &Path,
    name: &str,
    vendor: &Path,
) -> Result<PackageInput, PackageInputError> {
    let defs = load_dir(definitions)?;
    from_definitions(&defs, name, vendor)
}

/// As [`load`], on definitions already loaded.
pub fn from_definitions(
    defs: &Definitions,
    name: &str,
    vendor: &Path,
) -> Result<PackageInput, PackageInputError> {
    let pkg = defs.get(name).ok_or_else(|| PackageInputError::Unknown {
        dir: defs.dir.clone(),
        name: name.into(),
        known: defs.names().join(", "),
    })?;
    let Some(x) = pkg.as_xen() else {
        return Err(PackageInputError::DataPackage {
            name: name.into(),
            users: defs.data_users(name).join(", "),
        });
    };
    let data =
        defs.get(&x.data)
            .and_then(|d| d.as_data())
            .ok_or_else(|| PackageInputError::NoData {
                path: pkg.path.clone(),
                name: name.into(),
                data: x.data.clone(),
            })?;
    let fix = format!(
        "package-defs --definitions {} prepare {name} --vendor {}",
        defs.dir.display(),
        vendor.display()
    );
    let tree = vendor.join(crate::sources::prepare::tree_name(pkg));
    let xen_dir = tree.join("xen");
    let config_path = xen_dir.join(".config");
    if !xen_dir.join("Kconfig").is_file() || !config_path.is_file() {
        return Err(PackageInputError::NotPrepared {
            tree,
            name: name.into(),
            version: pkg.version.to_string(),
            fix,
        });
    }
    let config = std::fs::read(&config_path).map_err(|source| PackageInputError::Io {
        path: config_path.clone(),
        source,
    })?;
    let found = content_hash::Sha256Digest::of_bytes(&config).to_hex();
    if found != data.config.sha256 {
        let def = defs
            .get(&x.data)
            .map(|d| d.path.clone())
            .unwrap_or_default();
        return Err(PackageInputError::ConfigPin(Box::new(ConfigPinMismatch {
            path: config_path,
            def,
            file: data.config.file.clone(),
            pinned: data.config.sha256.clone(),
            found,
            tree,
            fix,
        })));
    }
    Ok(PackageInput {
        name: name.into(),
        version: pkg.version.to_string(),
        source_root: tree,
        xen_dir,
        config_path,
        config,
        configure_flags: x.configure_flags.clone(),
        definition: pkg.path.clone(),
    })
}

impl PackageInput {
    /// The definition's `configure` flags, as xen-config checks them against the tree.
    pub fn flag_set(&self) -> xen_config::tools_flags::OwnedFlagSet {
        xen_config::tools_flags::OwnedFlagSet {
            who: format!("definition {}", self.name),
            source: format!("{} (configure_flags)", self.definition.display()),
            flags: self.configure_flags.clone(),
        }
    }
}
