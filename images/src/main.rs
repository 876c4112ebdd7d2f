//! qxk-image: build images and Qubes templates from a declarative spec.

use anyhow::Context;
use clap::{Parser, Subcommand};
use images::{build, BuildOptions, ImageSpec};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "qxk-image",
    version,
    about = "Build disk images and Qubes templates from a declarative spec, rootless and reproducibly",
    after_help = "Examples:\n  qxk-image --list-image-types\n  qxk-image build template.toml -o out/debian-min\n  qxk-image build template.toml --type raw -o out/disk --json\n  qxk-image build template.toml --add qubes-xen-guest-4.17.6-6.tar.gz -o out/tpl"
)]
struct Cli {
    /// List the image types and exit.
    #[arg(long)]
    list_image_types: bool,
    /// Print data as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    global: qxk_cli::GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Build the image a spec describes.
    #[command(
        after_help = "Example:\n  qxk-image build template.toml --type qubes-template -o out/tpl"
    )]
    Build {
        /// The image spec (TOML).
        spec: PathBuf,
        /// Image type (overrides the spec's `type`); see --list-image-types.
        #[arg(short = 't', long = "type", value_parser = image_types())]
        image_type: Option<String>,
        /// Output directory (created; must not exist unless --force).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Replace an existing output directory.
        #[arg(long)]
        force: bool,
        /// A tarball to unpack over the root (after the spec's `root.add`); repeatable. For
        /// the Qubes Xen guest bundle of `package-defs bundle`.
        #[arg(long, value_name = "TARBALL")]
        add: Vec<PathBuf>,
    },
}

/// The registered image types, as clap's possible values (listed in --help and completions).
fn image_types() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        images::types::registry()
            .iter()
            .map(|t| clap::builder::PossibleValue::new(t.name).help(t.description)),
    )
}

fn main() -> std::process::ExitCode {
    let cli: Cli = qxk_cli::parse();
    cli.global.init_logging();
    qxk_cli::finish(run(cli))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.list_image_types {
        let types = images::types::registry();
        if cli.json {
            let list: Vec<_> = types
                .iter()
                .map(|t| serde_json::json!({"name": t.name, "description": t.description}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            println!("The available image types are:");
            for t in types {
                println!("  - {:<15} {}", t.name, t.description);
            }
        }
        return Ok(());
    }
    match cli.command {
        Some(Command::Build {
            spec,
            image_type,
            output,
            force,
            add,
        }) => {
            let mut parsed = ImageSpec::load(&spec)?;
            parsed.add.extend(add);
            let out = output.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "{}-{}",
                    parsed.name,
                    image_type
                        .clone()
                        .or(parsed.image_type.clone())
                        .unwrap_or_else(|| "qubes-template".into())
                ))
            });
            let report = build(&parsed, &out, &BuildOptions { image_type, force })
                .with_context(|| format!("building {}", spec.display()))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("built {} image in {}:", report.image_type, out.display());
                for f in &report.files {
                    println!("  {}", f.display());
                }
            }
            Ok(())
        }
        None => Err(qxk_cli::usage(
            "nothing to do: give `build SPEC` or --list-image-types (see --help)",
        )),
    }
}
