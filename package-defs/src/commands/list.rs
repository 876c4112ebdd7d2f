//! `package-defs list`: every package with its pinned version.

use anyhow::Result;

use super::load;
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: &Cli, args: &ListArgs) -> Result<()> {
    let ListArgs { json } = args;
    let defs = load(cli)?;
    if *json {
        let rows: Vec<_> = defs.packages.iter().map(|p| serde_json::json!({"name": p.name, "kind": p.kind(), "version": p.version.to_string(), "file": p.path})).collect();
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
    }
    Ok(())
}
