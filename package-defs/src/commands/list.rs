//! `package-defs list`: every package with its pinned version.

use anyhow::Result;

use super::{load, load_components};
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: &Cli, args: &ListArgs) -> Result<()> {
    let ListArgs { json } = args;
    let defs = load(cli)?;
    let components = load_components(cli, &defs)?;
    if *json {
        let mut rows: Vec<_> = defs.packages.iter().map(|p| serde_json::json!({"name": p.name, "kind": p.kind(), "version": p.version.to_string(), "file": p.path})).collect();
        rows.extend(components.iter().map(|c| serde_json::json!({"name": c.name, "kind": package_defs::component::KIND, "version": c.version.to_string(), "file": c.path})));
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for p in &defs.packages {
            println!(
                "{:<24} {:<12} {:<10} {}",
                p.name,
                p.version.to_string(),
                p.kind(),
                p.path.display()
            );
        }
        for c in &components {
            println!(
                "{:<24} {:<12} {:<10} {}",
                c.name,
                c.version.to_string(),
                "component",
                c.path.display()
            );
        }
    }
    Ok(())
}
