//! `package-defs verify`: every pin fetched again and compared.

use anyhow::{Context, Result};
use package_defs::sources::verify;

use super::{load, load_components, sources};
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: &Cli, args: &VerifyArgs) -> Result<()> {
    let VerifyArgs { json } = args;
    let defs = load(cli)?;
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let components = load_components(cli, &defs)?;
    let mut results = verify::verify_all(&defs, &sources, work.path());
    let dir = super::definitions_dir(cli)?;
    results.extend(
        components
            .iter()
            .map(|c| package_defs::component::verify(&dir, c, &sources, work.path())),
    );
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    if *json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            if r.problems.is_empty() {
                if !cli.global.quiet {
                    println!("ok    {} {}", r.package, r.checked.join(", "));
                }
            } else {
                for p in &r.problems {
                    println!("FAIL  {} {p}", r.package);
                }
            }
        }
    }
    if failed > 0 {
        return Err(qxk_cli::problem(format!(
            "{failed} package(s) do not match their pins"
        )));
    }
    Ok(())
}
