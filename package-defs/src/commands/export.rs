//! `package-defs export`: the definitions in another format (the Guix channel).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use package_defs::export::guix;

use super::{definitions_dir, load};
use crate::Cli;

#[derive(Subcommand)]
pub(crate) enum Export {
    /// The Guix channel's modules: `(qubes-xen-kit sources)` (the pinned origins, Qubes'
    /// series and config included) and `(qubes-xen-kit packages)` (xen-qubes, xen-qubes-next).
    #[command(
        after_help = "Examples:\n  package-defs export guix                 # regenerate guix/ beside definitions/\n  package-defs export guix --check         # exit 1 if the committed modules are stale\n  package-defs export guix -o sources.scm  # only the origins module, to one file"
    )]
    Guix {
        /// Channel directory to write [default: `guix` beside the definitions folder].
        #[arg(long)]
        channel: Option<PathBuf>,
        /// Write nothing; fail if the channel's modules differ from what the definitions generate.
        #[arg(long, conflicts_with = "output")]
        check: bool,
        /// Write only the origins module `(qubes-xen-kit sources)` to this file (`-` for stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub(crate) fn run(cli: &Cli, args: &Export) -> Result<()> {
    let Export::Guix {
        channel,
        check,
        output,
    } = args;
    let defs = load(cli)?;
    if let Some(o) = output {
        let text = guix::export(&defs)?;
        if o.as_os_str() == "-" {
            print!("{text}");
        } else {
            std::fs::write(o, text).with_context(|| format!("cannot write {}", o.display()))?;
        }
        return Ok(());
    }
    let dir = match channel {
        Some(c) => c.clone(),
        None => guix::channel_dir(&definitions_dir(cli)?),
    };
    let files = guix::channel(&defs)?;
    if *check {
        let stale = guix::stale_files(&dir, &files);
        if !stale.is_empty() {
            return Err(qxk_cli::problem(format!(
                "{} differ from what {} generate; run `cargo run -p package-defs -- export guix` and commit the result",
                stale.join(", "),
                definitions_dir(cli)?.display()
            )));
        }
        if !cli.global.quiet {
            println!("{}: up to date", dir.display());
        }
    } else {
        for path in guix::write_channel(&dir, &files)? {
            if !cli.global.quiet {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
