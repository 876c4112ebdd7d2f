//! One module per subcommand: its arguments and a `run` that does the I/O around the
//! library call. What every command shares (the definitions folder, the fetch layer built from
//! the global options) lives here.

pub(crate) mod bot;
pub(crate) mod build;
pub(crate) mod bundle;
pub(crate) mod export;
pub(crate) mod list;
pub(crate) mod prepare;
pub(crate) mod reconcile;
pub(crate) mod show;
pub(crate) mod update;
pub(crate) mod verify;

use std::path::PathBuf;

use anyhow::Result;
use package_defs::sources::fetch::GitSources;
use package_defs::{load_dir, Definitions, LookupError, XenPackage};

use crate::Cli;

/// `--definitions`, `$PACKAGE_DEFS_DIR` or `./definitions`: never a path of the machine
/// the binary was built on (that breaks after `cargo install`).
pub(crate) fn definitions_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(d) = &cli.definitions {
        return Ok(d.clone());
    }
    let local = PathBuf::from("definitions");
    if local.is_dir() {
        return Ok(local);
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    Err(qxk_cli::usage(format!(
        "no definitions folder: {here}/definitions does not exist; run from the repository root, or pass --definitions DIR (or set PACKAGE_DEFS_DIR)"
    )))
}

pub(crate) fn load(cli: &Cli) -> Result<Definitions> {
    Ok(load_dir(&definitions_dir(cli)?)?)
}

/// A package named on the command line that is unknown or of the wrong kind is a usage
/// error (exit 2) in every command: the library's one lookup, its one message.
pub(crate) fn usage(e: LookupError) -> anyhow::Error {
    qxk_cli::usage(e.to_string())
}

/// The xen package `name` and its data package, checked before anything is fetched.
pub(crate) fn xen_package<'a>(defs: &'a Definitions, name: &str) -> Result<XenPackage<'a>> {
    defs.xen_package(name).map_err(usage)
}

/// The components of `definitions/components/`, checked against `defs` (their `xen`).
pub(crate) fn load_components(
    cli: &Cli,
    defs: &Definitions,
) -> Result<Vec<package_defs::component::Component>> {
    Ok(package_defs::component::load(&definitions_dir(cli)?, defs)?)
}

pub(crate) fn sources(cli: &Cli) -> Result<GitSources> {
    let rewrites = source_fetch::UrlRewrites::from_args_and_process_env(&cli.url_rewrite)?;
    let cache = cli
        .cache
        .clone()
        .unwrap_or_else(source_fetch::DownloadCache::default_dir);
    GitSources::new(
        &cache,
        rewrites,
        std::time::Duration::from_secs(cli.timeout),
        cli.global.quiet,
    )
    .map(|s| s.git_max_time(std::time::Duration::from_secs(cli.git_max_time)))
}
