//! `package-defs prepare`: a verified, patched, configured tree under `--vendor`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use package_defs::sources::verify;

use super::{load, sources};
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct PrepareArgs {
    package: String,
    /// Parent folder of the prepared tree.
    #[arg(long, default_value = "vendor")]
    vendor: PathBuf,
}

pub(crate) fn run(cli: &Cli, args: &PrepareArgs) -> Result<()> {
    let PrepareArgs { package, vendor } = args;
    let defs = load(cli)?;
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let out = verify::fetch_and_prepare(&defs, package, &sources, work.path(), vendor)?;
    if !cli.global.quiet {
        println!("{}", out.display());
    }
    Ok(())
}
