//! `package-defs reconcile`: a definition and its prepared tree handed to xen-config.

use std::path::PathBuf;

use anyhow::Result;

use super::load;
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct ReconcileArgs {
    /// A package of kind "xen".
    package: String,
    /// Where `package-defs prepare` put the tree.
    #[arg(long, default_value = "vendor")]
    vendor: PathBuf,
    #[command(flatten)]
    probe: xen_config::cli::ProbeArgs,
    /// Accept a stale pin, removed symbol (name, CONFIG_ optional) or unknown configure
    /// flag (`--accept=--disable-blktap2`); repeatable.
    #[arg(long)]
    accept: Vec<String>,
    /// Print the reconciliation as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: &Cli, args: &ReconcileArgs) -> Result<()> {
    let ReconcileArgs {
        package,
        vendor,
        probe,
        accept,
        json,
    } = args;
    let defs = load(cli)?;
    let input = package_defs::reconcile::from_definitions(&defs, package, vendor)?;
    let r = xen_config::cli::reconcile(xen_config::cli::Request {
        xen_dir: &input.xen_dir,
        config: &input.config,
        base_xen_dir: None,
        source_root: Some(input.source_root.clone()),
        base_source_root: None,
        package_flags: Some(input.flag_set()),
        accept,
        probes: probe,
    })?;
    xen_config::cli::print_reconciliation(&r, *json)?;
    Ok(())
}
