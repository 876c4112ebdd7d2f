//! `package-defs`: list, show, update, verify, prepare, reconcile, build, bundle, export and
//! bot: the Xen package definitions from the command line.
//!
//! Only parsing and dispatch: each command is a module of `commands`, the work is the
//! `package_defs` library's.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

const EXAMPLES: &str = "Examples:
  package-defs update xen 4.17.4-6 --diff
  package-defs update qubes-xen-next --commit 0123456789abcdef0123456789abcdef01234567
  package-defs update qubes-xen-next 4.19.5-1 --dry-run --json
  package-defs --url-rewrite https://github.com/=http://mirror.local/github/ verify
  package-defs prepare xen --vendor vendor
  package-defs list
  package-defs show xen --json
  package-defs export guix --check
  package-defs --definitions path/to/definitions list
  package-defs bot --dry-run
  package-defs bot --sign BOT-KEY --push origin --push-branch main";

#[derive(Parser)]
#[command(name = "package-defs", version, about = "Pinned, verified definitions of Qubes OS's Xen packages", after_help = EXAMPLES)]
struct Cli {
    /// Folder of definition files [default: ./definitions].
    #[arg(long, global = true, env = "PACKAGE_DEFS_DIR", value_name = "DIR")]
    definitions: Option<PathBuf>,
    #[command(flatten)]
    global: qxk_cli::GlobalArgs,
    /// Rewrite URL prefix FROM to TO for every fetch, git and HTTP (repeatable; also
    /// PACKAGE_DEFS_URL_REWRITE="FROM=TO;FROM2=TO2").
    #[arg(long = "url-rewrite", value_name = "FROM=TO", global = true)]
    url_rewrite: Vec<String>,
    /// Download cache (git mirrors and files keyed by hash).
    #[arg(long, global = true, env = "PACKAGE_DEFS_CACHE")]
    cache: Option<PathBuf>,
    /// Stop a network operation (an HTTP read, a git transfer) after this many seconds
    /// without progress.
    #[arg(long, global = true, default_value_t = 300, value_name = "SECS")]
    timeout: u64,
    /// Stop any one git command after this many seconds in all, even while data still flows
    /// (a server trickling bytes); raise it for a first fetch over a slow line.
    #[arg(long, global = true, default_value_t = 3600, value_name = "SECS")]
    git_max_time: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List packages with their pinned version.
    #[command(after_help = "Example:\n  package-defs list --json")]
    List(commands::list::ListArgs),
    /// Show every pin of one package, or the VM-side patch series of its Qubes data.
    #[command(
        after_help = "Examples:\n  package-defs show qubes-vmm-xen-data --json\n  package-defs show xen --vm-series          # what Qubes' Arch recipe applies for VMs"
    )]
    Show(commands::show::ShowArgs),
    /// Pin a new Qubes tag: fetch, verify signatures, hash, rewrite the definitions atomically.
    #[command(
        after_help = "Examples:\n  package-defs update xen 4.17.4-6\n  package-defs update xen 4.17.4-6 --dry-run --diff\n  package-defs update xen 4.19.4-9 --allow-stream --json\n  package-defs update xen 4.17.4-5 --repin          # after switching upstream.origin\n  package-defs update qubes-xen-next --commit 0123456789abcdef0123456789abcdef01234567"
    )]
    Update(commands::update::UpdateArgs),
    /// Fetch every pinned source again and check commits, hashes and signatures.
    #[command(after_help = "Example:\n  package-defs verify --json")]
    Verify(commands::verify::VerifyArgs),
    /// Fetch, verify, unpack upstream Xen, apply the Qubes series and install the config.
    #[command(
        after_help = "Example:\n  package-defs prepare xen --vendor vendor\n  XEN_SYS_SOURCE=vendor/xen-4.17.4-5 cargo build -p xen-sys"
    )]
    Prepare(commands::prepare::PrepareArgs),
    /// Reconcile a xen package's pinned config and configure flags with the tree `prepare`
    /// made (xen-config's reconcile); exits 1 on stale pins, removed symbols or unknown flags
    /// unless accepted.
    #[command(
        after_help = "Examples:\n  package-defs prepare xen && package-defs reconcile xen\n  package-defs reconcile xen --vendor vendor --accept=--disable-blktap2 --json"
    )]
    Reconcile(commands::reconcile::ReconcileArgs),
    /// Build Xen as Qubes' spec does: series, config completed by xen-config, `make xen`,
    /// `./configure` + `make dist-tools`; into an output folder with a JSON manifest.
    #[command(after_help = commands::build::BUILD_EXAMPLES)]
    Build(commands::build::BuildArgs),
    /// Pack the guest libraries (a `build --mode vm`, cached) and `xs` as one reproducible
    /// tarball that unpacks into / (or any root) under /opt/qubes-xen/<version>-<rel>.
    #[command(after_help = commands::bundle::BUNDLE_EXAMPLES)]
    Bundle(commands::bundle::BundleArgs),
    /// Export the definitions in another format.
    #[command(subcommand)]
    Export(commands::export::Export),
    /// The weekend bump bot: bump every stream to its newest landed Qubes tag, one commit
    /// per package on branch <prefix><date>, after the build gate passes.
    #[command(after_help = commands::bot::BOT_EXAMPLES)]
    Bot(Box<commands::bot::BotArgs>),
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::List(a) => commands::list::run(cli, a),
        Command::Show(a) => commands::show::run(cli, a),
        Command::Update(a) => commands::update::run(cli, a),
        Command::Verify(a) => commands::verify::run(cli, a),
        Command::Prepare(a) => commands::prepare::run(cli, a),
        Command::Reconcile(a) => commands::reconcile::run(cli, a),
        Command::Build(a) => commands::build::run(cli, a),
        Command::Bundle(a) => commands::bundle::run(cli, a),
        Command::Export(a) => commands::export::run(cli, a),
        Command::Bot(a) => commands::bot::run(cli, a),
    }
}

fn main() -> ExitCode {
    let cli: Cli = qxk_cli::parse();
    cli.global.init_logging();
    qxk_cli::finish(run(&cli))
}
