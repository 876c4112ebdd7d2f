//! `xen-config`: Xen Kconfig evaluation and reconciliation of Qubes' config.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use xen_config::cli::{load_tree, ProbeArgs};
use xen_config::Input;

#[derive(Parser)]
#[command(
    name = "xen-config",
    version,
    about = "Xen Kconfig evaluation, byte-identical to Xen's conf, and reconciliation of Qubes' config"
)]
#[command(
    after_help = "Examples:\n  xen-config olddefconfig --xen-dir xen-4.17.5/xen --config qubes/config -o .config\n  xen-config savedefconfig --xen-dir xen-4.17.5/xen --config .config\n  xen-config reconcile --xen-dir xen-4.19.4/xen --qubes-config qubes/config --json"
)]
struct Cli {
    #[command(flatten)]
    global: qxk_cli::GlobalArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `olddefconfig` and `savedefconfig` take, as conf does.
#[derive(Args, Clone)]
struct ConfArgs {
    /// The Xen `xen/` directory (holds `Kconfig`).
    #[arg(long)]
    xen_dir: PathBuf,
    #[command(flatten)]
    probe: ProbeArgs,
    /// Input config; without it, the tree's defconfig_list file is used, as conf does.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Like `make -C xen olddefconfig`: complete a config with defaults.
    #[command(
        after_help = "Example:\n  xen-config olddefconfig --xen-dir xen/ --config qubes-config -o xen/.config"
    )]
    Olddefconfig(ConfArgs),
    /// Like `make -C xen savedefconfig`: the minimal config.
    #[command(
        after_help = "Example:\n  xen-config savedefconfig --xen-dir xen/ --config xen/.config"
    )]
    Savedefconfig(ConfArgs),
    /// Classify every symbol of Qubes' config against a Xen tree; exit 1 on stale pins or
    /// symbols the tree dropped, unless accepted.
    #[command(
        after_help = "Examples:\n  xen-config reconcile --xen-dir xen-4.19/xen --base-xen-dir xen-4.17/xen --qubes-config config\n  xen-config reconcile --xen-dir xen/ --qubes-config config --accept XENOPROF --json\n  package-defs prepare xen && package-defs reconcile xen   # on a definition"
    )]
    Reconcile {
        /// The Xen `xen/` directory (holds `Kconfig`).
        #[arg(long)]
        xen_dir: PathBuf,
        #[command(flatten)]
        probe: ProbeArgs,
        /// The tree Qubes' config was generated for (tells stale pins from deliberate ones).
        #[arg(long)]
        base_xen_dir: Option<PathBuf>,
        /// Qubes' hypervisor config.
        #[arg(long)]
        qubes_config: PathBuf,
        /// Full Xen source root (holds tools/configure.ac); default: the parent of --xen-dir.
        #[arg(long)]
        source_root: Option<PathBuf>,
        /// Older source root, to report configure defaults that changed.
        #[arg(long)]
        base_source_root: Option<PathBuf>,
        /// Accept a stale pin, removed symbol (name, CONFIG_ optional) or unknown configure
        /// flag (`--accept=--disable-blktap2`); repeatable.
        #[arg(long)]
        accept: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn read_input(config: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    match config {
        None => Ok(None),
        Some(p) => {
            Ok(Some(std::fs::read(p).with_context(|| {
                format!("reading config {}", p.display())
            })?))
        }
    }
}

fn emit(output: &Option<PathBuf>, text: &str) -> Result<()> {
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn run_conf(args: &ConfArgs, save: bool) -> Result<String> {
    let mut k = load_tree(&args.xen_dir, &args.probe)?;
    for m in &k.messages {
        eprintln!("{m}");
    }
    let data = read_input(&args.config)?;
    let input = match &data {
        Some(d) => Input::Config(d),
        None => Input::Missing,
    };
    let dir: &Path = &args.xen_dir;
    let (text, rep) = if save {
        k.savedefconfig(input, dir)
    } else {
        k.olddefconfig(input, dir)
    };
    for w in &rep.warnings {
        eprintln!("{w}");
    }
    if data.is_none() && rep.used_defaults_from.is_none() {
        bail!(
            "no --config given and the tree's defconfig_list names no readable file under {}",
            dir.display()
        );
    }
    Ok(text)
}

fn main() -> std::process::ExitCode {
    let cli: Cli = qxk_cli::parse();
    cli.global.init_logging();
    qxk_cli::finish(run(&cli))
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Olddefconfig(args) => emit(&args.output, &run_conf(args, false)?),
        Cmd::Savedefconfig(args) => emit(&args.output, &run_conf(args, true)?),
        Cmd::Reconcile {
            xen_dir,
            probe,
            base_xen_dir,
            qubes_config,
            source_root,
            base_source_root,
            accept,
            json,
        } => {
            let config = std::fs::read(qubes_config)
                .with_context(|| format!("reading {}", qubes_config.display()))?;
            let r = xen_config::cli::reconcile(xen_config::cli::Request {
                xen_dir,
                config: &config,
                base_xen_dir: base_xen_dir.as_deref(),
                source_root: source_root.clone(),
                base_source_root: base_source_root.clone(),
                package_flags: None,
                accept,
                probes: probe,
            })?;
            xen_config::cli::print_reconciliation(&r, *json)?;
            Ok(())
        }
    }
}
