//! `package-defs show`: one package's pins, or the VM-side series of its Qubes data.

use anyhow::{Context, Result};

use super::{load, sources};
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    package: String,
    #[arg(long)]
    json: bool,
    /// Fetch the pinned Qubes data (signature checked) and list the patches its Arch
    /// recipe applies for the VM-side tools, in order.
    #[arg(long)]
    vm_series: bool,
}

pub(crate) fn run(cli: &Cli, args: &ShowArgs) -> Result<()> {
    let ShowArgs {
        package,
        json,
        vm_series,
    } = args;
    let defs = load(cli)?;
    let p = defs.get(package).ok_or_else(|| {
        qxk_cli::usage(format!(
            "unknown package '{package}'; known: {}",
            defs.names().join(", ")
        ))
    })?;
    if *vm_series {
        let sources = sources(cli)?;
        let work = tempfile::tempdir().context("cannot create a work folder")?;
        let s = package_defs::defs::vm_series::for_package(&defs, package, &sources, work.path())?;
        if *json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            print!("{}", package_defs::defs::vm_series::render(&s));
        }
    } else if *json {
        println!("{}", serde_json::to_string_pretty(p)?);
    } else {
        print!("{}", package_defs::defs::show::render(p));
    }
    Ok(())
}
