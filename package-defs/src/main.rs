//! `package-defs`: list, show, update, verify, prepare and export the Xen package definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use package_defs::export::guix;
use package_defs::sources::fetch::GitSources;
use package_defs::sources::verify;
use package_defs::update::pipeline::{self, Outcome};
use package_defs::update::{self, Allow};
use package_defs::{load_dir, Body, Definitions, QubesVersion};

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
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show every pin of one package, or the VM-side patch series of its Qubes data.
    #[command(
        after_help = "Examples:\n  package-defs show qubes-vmm-xen-data --json\n  package-defs show xen --vm-series          # what Qubes' Arch recipe applies for VMs"
    )]
    Show {
        package: String,
        #[arg(long)]
        json: bool,
        /// Fetch the pinned Qubes data (signature checked) and list the patches its Arch
        /// recipe applies for the VM-side tools, in order.
        #[arg(long)]
        vm_series: bool,
    },
    /// Pin a new Qubes tag: fetch, verify signatures, hash, rewrite the definitions atomically.
    #[command(
        after_help = "Examples:\n  package-defs update xen 4.17.4-6\n  package-defs update xen 4.17.4-6 --dry-run --diff\n  package-defs update xen 4.19.4-9 --allow-stream --json\n  package-defs update xen 4.17.4-5 --repin          # after switching upstream.origin\n  package-defs update qubes-xen-next --commit 0123456789abcdef0123456789abcdef01234567"
    )]
    Update {
        /// A package of kind "xen" (its data package is updated with it).
        package: String,
        /// VERSION-REL, e.g. 4.17.4-6 (the Qubes tag is v<VERSION-REL>). With --commit it may
        /// be left out (read from the commit's `version` and `rel` files).
        version: Option<String>,
        /// For a stream pinned to a commit of an unmerged branch: move it to this commit
        /// (40 hex digits). Such commits carry no signed tag: the Qubes data is pinned by id,
        /// unsigned (the report says so); upstream Xen is still signature-checked.
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
        /// Accept a version older than the pinned one.
        #[arg(long)]
        allow_downgrade: bool,
        /// Accept a tag of another Xen series than the package's stream.
        #[arg(long)]
        allow_stream: bool,
        /// Fetch, verify and report, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print a unified diff of the definition files.
        #[arg(long)]
        diff: bool,
        /// Print the report as JSON (with `written` and, with --diff, `diff`).
        #[arg(long)]
        json: bool,
        /// Do not fetch the release tarball + .sig (its sha256 stays unpinned; git origin only).
        #[arg(long)]
        skip_tarball: bool,
        /// Fetch, verify and pin the version already pinned once more (after changing
        /// `upstream.origin`, or to fill unpinned hashes).
        #[arg(long)]
        repin: bool,
    },
    /// Fetch every pinned source again and check commits, hashes and signatures.
    #[command(after_help = "Example:\n  package-defs verify --json")]
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Fetch, verify, unpack upstream Xen, apply the Qubes series and install the config.
    #[command(
        after_help = "Example:\n  package-defs prepare xen --vendor vendor\n  XEN_SYS_SOURCE=vendor/xen-4.17.4-5 cargo build -p xen-sys"
    )]
    Prepare {
        package: String,
        /// Parent folder of the prepared tree.
        #[arg(long, default_value = "vendor")]
        vendor: PathBuf,
    },
    /// Reconcile a xen package's pinned config and configure flags with the tree `prepare`
    /// made (xen-config's reconcile); exits 1 on stale pins, removed symbols or unknown flags
    /// unless accepted.
    #[command(
        after_help = "Examples:\n  package-defs prepare xen && package-defs reconcile xen\n  package-defs reconcile xen --vendor vendor --accept=--disable-blktap2 --json"
    )]
    Reconcile {
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
    },
    /// Build Xen as Qubes' spec does: series, config completed by xen-config, `make xen`,
    /// `./configure` + `make dist-tools`; into an output folder with a JSON manifest.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),
    /// Pack the guest libraries (a `build --mode vm`, cached) and `xs` as one reproducible
    /// tarball that unpacks into / (or any root) under /opt/qubes-xen/<version>-<rel>.
    #[command(after_help = BUNDLE_EXAMPLES)]
    Bundle(BundleArgs),
    /// Export the definitions in another format.
    #[command(subcommand)]
    Export(Export),
    /// The weekend bump bot: bump every stream to its newest landed Qubes tag, one commit
    /// per package on branch <prefix><date>, after the build gate passes.
    #[command(after_help = BOT_EXAMPLES)]
    Bot(Box<BotArgs>),
}

const BOT_EXAMPLES: &str = "Examples:
  package-defs bot --dry-run
  package-defs bot --sign 0x1234ABCD --json
  package-defs bot --forge github --gate 'cargo test --workspace' --gate 'package-defs prepare {package}'
  package-defs bot --today 2026-06-13 --dry-run      # replay a past weekend

A weekly timer runs `package-defs bot`; a tag Qubes cuts during the week lands on the
Saturday after it (--landing-day). Runs never overlap (a lock), a killed run is finished by
the next, and a bump already committed on the branch is never made twice. Exit status is
non-zero when any package failed; the report names the package and the step.";

const BUILD_EXAMPLES: &str = "Examples:
  package-defs build xen                       # -> out/xen-<version>-<rel>/
  package-defs build xen --mode hypervisor -o out/xen-hv --json
  package-defs build qubes-xen-next --jobs 8 --no-cache
  package-defs build xen --mode vm -o out/xen-vm    # guest libraries, for `bundle`

Output: xen.gz, config (the final .config), xen.efi, install/ (the installed tools tree),
tree/ (the built source tree, for XEN_SYS_SOURCE), logs/ and manifest.json (input pins,
toolchain versions, output sha256s); --mode vm gives install/ (the guest libraries under
/opt/qubes-xen/<version>-<rel>), logs/ and manifest.json. A failed build leaves no output, only
<output>.failed-logs/. Finished builds are cached by the key of every input under
$QXK_CACHE_DIR/xen-build (default /var/cache/qubes-xen-kit/xen-build).";

const BUNDLE_EXAMPLES: &str = "Examples:
  package-defs bundle xen -o qubes-xen-guest-4.17.6-6.tar.gz
  package-defs bundle xen -o guest.tar.gz --xs target/release/xs --json

In a template: tar -xzf qubes-xen-guest-<version>.tar.gz -C / (or -C ROOT), then
cd /opt/qubes-xen/current && sha256sum -c share/qubes-xen/SHA256SUMS. Build programs against
it with PKG_CONFIG_PATH=/opt/qubes-xen/current/lib/pkgconfig. share/qubes-xen/uninstall.list
names every file and folder it installed (see the README).";

/// What `build` and `bundle` share: make's parallelism and the build cache.
#[derive(clap::Args)]
struct MakeArgs {
    /// Parallel make jobs [default: the number of CPUs].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Build cache folder [default: $QXK_CACHE_DIR/xen-build or /var/cache/qubes-xen-kit/xen-build].
    #[arg(long)]
    build_cache: Option<PathBuf>,
    /// Neither use nor fill the build cache.
    #[arg(long, conflicts_with = "build_cache")]
    no_cache: bool,
}

impl MakeArgs {
    fn apply(&self, opts: &mut package_defs::build::BuildOptions) {
        opts.cache = if self.no_cache {
            None
        } else {
            self.build_cache
                .clone()
                .or_else(package_defs::build::default_cache_dir)
        };
        if let Some(j) = self.jobs {
            opts.jobs = j;
        }
    }
}

#[derive(clap::Args)]
struct BundleArgs {
    /// A package of kind "xen".
    package: String,
    /// The tarball to write (written to a temporary file, then renamed).
    #[arg(long, short)]
    output: PathBuf,
    /// The `xs` program to ship as bin/xs [default: `xs` beside this program].
    #[arg(long)]
    xs: Option<PathBuf>,
    #[command(flatten)]
    make: MakeArgs,
    /// Replace an existing tarball.
    #[arg(long)]
    replace: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// A package of kind "xen".
    package: String,
    /// Output folder [default: out/<package>-<version>-<rel>].
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Everything, the hypervisor alone, or the guest libraries (libxenvchan's closure with
    /// Qubes' VM series, under /opt/qubes-xen/<version>-<rel>).
    #[arg(long, value_enum, default_value_t = package_defs::build::Mode::Full)]
    mode: package_defs::build::Mode,
    #[command(flatten)]
    make: MakeArgs,
    /// Kill a step that prints nothing for this many seconds.
    #[arg(long, default_value_t = 600)]
    inactivity_timeout: u64,
    /// Kill a step that runs longer than this many seconds.
    #[arg(long, default_value_t = 10800)]
    step_timeout: u64,
    /// Replace an existing output folder.
    #[arg(long)]
    replace: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BotArgs {
    /// Git repository holding the definitions (default: the one containing them).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Branch the bumps start from.
    #[arg(long, default_value = "main")]
    base: String,
    /// Bumps are committed on <prefix><date>.
    #[arg(long, default_value = "bot/bumps-")]
    branch_prefix: String,
    /// State file, lock, worktree and tag cache (default: <repo>/.git/package-defs-bot).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Sign commits with this OpenPGP key (git commit --gpg-sign=KEY).
    #[arg(long, value_name = "KEY")]
    sign: Option<String>,
    /// Day of the week new tags land on.
    #[arg(long, value_enum, default_value_t = Weekday::Saturday)]
    landing_day: Weekday,
    /// Build gate command run in the worktree after each update (`sh -c`; {package} and
    /// {version} are replaced); repeatable. Default: the workspace's tests and `prepare`.
    #[arg(long, value_name = "CMD")]
    gate: Vec<String>,
    /// Seconds each gate command may take.
    #[arg(long, default_value_t = 3600)]
    gate_timeout: u64,
    /// Where tags are listed: `git` (any forge, git protocol) or `github` (REST API with
    /// ETag caching; token from $GITHUB_TOKEN).
    #[arg(long, value_enum, default_value_t = Forge::Git)]
    forge: Forge,
    /// The run's day, YYYY-MM-DD (default: today, UTC): replays and tests.
    #[arg(long, value_parser = qxk_cli::parse_date, value_name = "YYYY-MM-DD")]
    today: Option<time::Date>,
    /// Plan only: print what would be bumped; touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// After the run, push the bump branch to this git remote (name or URL), never forced;
    /// a failed push is retried by the next run.
    #[arg(long, value_name = "REMOTE")]
    push: Option<String>,
    /// With --push: fast-forward this branch of the remote (the channel's branch) to the
    /// bump branch instead of pushing the bump branch under its own name.
    #[arg(long, value_name = "BRANCH", requires = "push")]
    push_branch: Option<String>,
    /// Do not fetch the release tarball + .sig (its sha256 stays unpinned).
    #[arg(long)]
    skip_tarball: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Where the bot lists tags.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Forge {
    /// `git ls-remote` on any forge.
    Git,
    /// GitHub's REST API with ETag caching.
    Github,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<Weekday> for time::Weekday {
    fn from(d: Weekday) -> time::Weekday {
        match d {
            Weekday::Monday => time::Weekday::Monday,
            Weekday::Tuesday => time::Weekday::Tuesday,
            Weekday::Wednesday => time::Weekday::Wednesday,
            Weekday::Thursday => time::Weekday::Thursday,
            Weekday::Friday => time::Weekday::Friday,
            Weekday::Saturday => time::Weekday::Saturday,
            Weekday::Sunday => time::Weekday::Sunday,
        }
    }
}

#[derive(Subcommand)]
enum Export {
    /// The Guix channel's modules: `(qubes-xen-kit sources)` (origins) and
    /// `(qubes-xen-kit packages)` (xen-qubes, qubes-xen-next and the data packages).
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

/// The channel directory beside a definitions folder (`definitions/` -> `guix/`).
fn guix_channel_dir(defs: &std::path::Path) -> PathBuf {
    let abs = std::fs::canonicalize(defs).unwrap_or_else(|_| defs.to_path_buf());
    abs.parent()
        .map(|p| p.join(guix::CHANNEL_DIR))
        .unwrap_or_else(|| PathBuf::from(guix::CHANNEL_DIR))
}

/// `--definitions`, `$PACKAGE_DEFS_DIR` or `./definitions`: never a path of the machine
/// the binary was built on (that breaks after `cargo install`).
fn definitions_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(d) = &cli.definitions {
        return Ok(d.clone());
    }
    let local = PathBuf::from("definitions");
    if local.is_dir() {
        return Ok(local);
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    Err(qxk_cli::usage(format!(
        "no definitions folder: {here}/definitions does not exist; run from the repository root, or pass --definitions DIR (or set PACKAGE_DEFS_DIR)"
    )))
}

fn load(cli: &Cli) -> Result<Definitions> {
    Ok(load_dir(&definitions_dir(cli)?)?)
}

fn sources(cli: &Cli) -> Result<GitSources> {
    let rewrites = source_fetch::UrlRewrites::from_args_and_process_env(&cli.url_rewrite)?;
    let cache = cli
        .cache
        .clone()
        .unwrap_or_else(source_fetch::DownloadCache::default_dir);
    GitSources::new(
        &cache,
        rewrites,
        std::time::Duration::from_secs(cli.timeout),
        cli.global.quiet,
    )
    .map(|s| s.git_max_time(std::time::Duration::from_secs(cli.git_max_time)))
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::List { json } => {
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
        }
        Command::Show {
            package,
            json,
            vm_series,
        } => {
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
                let s = package_defs::defs::vm_series::for_package(
                    &defs,
                    package,
                    &sources,
                    work.path(),
                )?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    print!("{}", package_defs::defs::vm_series::render(&s));
                }
            } else if *json {
                println!("{}", serde_json::to_string_pretty(p)?);
            } else {
                print!("{}", show_text(p));
            }
        }
        Command::Update {
            package,
            version,
            allow_downgrade,
            allow_stream,
            dry_run,
            diff,
            json,
            skip_tarball,
            repin,
            commit,
        } => {
            let defs = load(cli)?;
            let sources = sources(cli)?;
            let req = pipeline::Request {
                package,
                version: version.as_deref().map(QubesVersion::parse).transpose()?,
                commit: commit.as_deref(),
                allow: Allow {
                    downgrade: *allow_downgrade,
                    stream: *allow_stream,
                    repin: *repin,
                },
                with_tarball: !skip_tarball,
                dry_run: *dry_run,
                diff: *diff,
            };
            match pipeline::update(&defs, &req, &sources)? {
                // Asking for what is pinned is a no-op, not a failure (a bot or a script may
                // rerun an update); `--repin` fetches it again.
                Outcome::AlreadyPinned(e) => {
                    if *json {
                        let v = serde_json::json!({"report": null, "written": false, "diff": null, "already_pinned": e.to_string()});
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else if !cli.global.quiet {
                        println!("{e}");
                    }
                }
                Outcome::Planned {
                    plan,
                    diff,
                    written,
                } => {
                    if *json {
                        let v = serde_json::json!({"report": plan.report, "written": written, "diff": diff});
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        if let Some(d) = &diff {
                            print!("{d}");
                        }
                        if !cli.global.quiet {
                            print!("{}", update::render(&plan.report));
                            println!(
                                "{}",
                                if written {
                                    "definitions updated"
                                } else {
                                    "dry run: nothing written"
                                }
                            );
                        }
                    }
                }
            }
        }
        Command::Verify { json } => {
            let defs = load(cli)?;
            let sources = sources(cli)?;
            let work = tempfile::tempdir().context("cannot create a work folder")?;
            let results = verify::verify_all(&defs, &sources, work.path());
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
        }
        Command::Prepare { package, vendor } => {
            let defs = load(cli)?;
            let sources = sources(cli)?;
            let work = tempfile::tempdir().context("cannot create a work folder")?;
            let out = verify::fetch_and_prepare(&defs, package, &sources, work.path(), vendor)?;
            if !cli.global.quiet {
                println!("{}", out.display());
            }
        }
        Command::Reconcile {
            package,
            vendor,
            probe,
            accept,
            json,
        } => {
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
        }
        Command::Bot(args) => run_bot(cli, args)?,
        Command::Build(args) => run_build(cli, args)?,
        Command::Bundle(args) => run_bundle(cli, args)?,
        Command::Export(Export::Guix {
            channel,
            check,
            output,
        }) => {
            let defs = load(cli)?;
            if let Some(o) = output {
                let text = guix::export(&defs)?;
                if o.as_os_str() == "-" {
                    print!("{text}");
                } else {
                    std::fs::write(o, text)
                        .with_context(|| format!("cannot write {}", o.display()))?;
                }
                return Ok(());
            }
            let dir = match channel {
                Some(c) => c.clone(),
                None => guix_channel_dir(&definitions_dir(cli)?),
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
        }
    }
    Ok(())
}

fn run_bot(cli: &Cli, args: &BotArgs) -> Result<()> {
    use bump_bot::{BotConfig, GitHubTags, GitTags, TagSource};
    let dir = definitions_dir(cli)?;
    let defs_dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("definitions folder {}", dir.display()))?;
    let repo = match &args.repo {
        Some(r) => std::fs::canonicalize(r).with_context(|| format!("--repo {}", r.display()))?,
        None => git_toplevel(&defs_dir)?,
    };
    let rel = defs_dir.strip_prefix(&repo).map_err(|_| {
        anyhow::anyhow!(
            "the definitions {} are not inside the repository {}; pass --repo",
            defs_dir.display(),
            repo.display()
        )
    })?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| repo.join(".git/package-defs-bot"));
    let landing_day = args.landing_day.into();
    let today = args
        .today
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let exe = std::env::current_exe().context("cannot find the package-defs binary")?;
    let gate = if args.gate.is_empty() {
        vec![
            "cargo test --workspace --quiet".to_string(),
            format!(
                "{} --definitions {} prepare {{package}} --vendor {}",
                exe.display(),
                rel.display(),
                state_dir.join("vendor").display()
            ),
        ]
    } else {
        args.gate.clone()
    };
    let cfg = BotConfig {
        repo: repo.clone(),
        definitions: rel.to_string_lossy().into_owned(),
        base: args.base.clone(),
        branch_prefix: args.branch_prefix.clone(),
        state_dir: state_dir.clone(),
        signing_key: args.sign.clone(),
        landing: upstream_tags::LandingPolicy { landing_day },
        gate: gate
            .iter()
            .map(|c| vec!["sh".to_string(), "-c".to_string(), c.clone()])
            .collect(),
        gate_timeout: std::time::Duration::from_secs(args.gate_timeout),
        today,
        dry_run: args.dry_run,
    };
    let sources = sources(cli)?;
    let rewrites = source_fetch::UrlRewrites::from_args_and_process_env(&cli.url_rewrite)?;
    let tags: Box<dyn TagSource> = match args.forge {
        // The same bare-repo cache, rewrites and limits as the updates it plans.
        Forge::Git => Box::new(GitTags::new(sources.git.clone())),
        Forge::Github => {
            let opts = source_fetch::FetchOptions {
                rewrites,
                quiet: true,
                read_timeout: std::time::Duration::from_secs(cli.timeout),
                ..Default::default()
            };
            let cache = source_fetch::DownloadCache::open(state_dir.join("downloads"))?;
            Box::new(GitHubTags::new(
                source_fetch::Fetcher::new(opts, cache)?,
                "https://api.github.com",
                std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()),
                state_dir.join("github"),
            ))
        }
    };
    // A Guix channel's bump commits carry the regenerated modules, signed by a key its
    // `.guix-authorizations` lists (else Guix users' `guix pull` refuses them).
    let guix_channel = repo.join(".guix-channel").exists().then(|| {
        rel.parent()
            .unwrap_or(std::path::Path::new(""))
            .join(guix::CHANNEL_DIR)
            .to_string_lossy()
            .into_owned()
    });
    if !args.dry_run {
        check_signing_key(&repo, &args.base, args.sign.as_deref())?;
    }
    let packages = package_defs::bot::DefinitionsPackages {
        sources: &sources,
        with_tarball: !args.skip_tarball,
        guix_channel,
    };
    let report = bump_bot::run(&cfg, &packages, tags.as_ref())?;
    let published = match (&args.push, args.dry_run) {
        (Some(remote), false) => {
            let target = bump_bot::Publish {
                remote: remote.clone(),
                to_branch: args.push_branch.clone(),
            };
            Some(bump_bot::publish(&repo, &state_dir, &report, &target))
        }
        _ => None,
    };
    if let Some(Ok(pushed)) = &published {
        for p in pushed {
            if !cli.global.quiet {
                eprintln!("pushed {} {} to {} {}", p.branch, p.commit, p.remote, p.to);
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !cli.global.quiet || report.failed() {
        print!("{report}");
    }
    if report.failed() {
        let failed: Vec<String> = report
            .packages
            .iter()
            .filter_map(|p| match &p.outcome {
                bump_bot::Outcome::Failed { step, .. } => {
                    Some(format!("{} at step {step}", p.package))
                }
                _ => None,
            })
            .collect();
        return Err(qxk_cli::problem(format!(
            "bot run failed: {}",
            failed.join(", ")
        )));
    }
    if let Some(Err(e)) = published {
        return Err(e.into());
    }
    Ok(())
}

fn run_build(cli: &Cli, a: &BuildArgs) -> Result<()> {
    use package_defs::build;
    use std::io::IsTerminal;
    let defs = load(cli)?;
    let out = match &a.output {
        Some(o) => o.clone(),
        None => {
            let p = defs.get(&a.package).with_context(|| {
                format!(
                    "unknown package '{}'; known: {}",
                    a.package,
                    defs.names().join(", ")
                )
            })?;
            PathBuf::from("out").join(format!("{}-{}", p.name, p.version))
        }
    };
    let mut opts = build::BuildOptions {
        mode: a.mode,
        limits: package_defs::build::Limits {
            inactivity: std::time::Duration::from_secs(a.inactivity_timeout),
            total: std::time::Duration::from_secs(a.step_timeout),
        },
        replace: a.replace,
        progress: !cli.global.quiet && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    a.make.apply(&mut opts);
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let m = build::fetch_and_build(&defs, &a.package, &sources, work.path(), &opts, &out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else if !cli.global.quiet {
        println!("{}", out.display());
        for (f, h) in &m.outputs {
            println!("  {f:<8} {h}");
        }
    }
    Ok(())
}

/// `xs` beside this program (a cargo build puts the workspace's binaries in one folder).
fn xs_beside_me() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate this program")?;
    let xs = exe.with_file_name("xs");
    if xs.is_file() {
        return Ok(xs);
    }
    Err(qxk_cli::problem(format!(
        "{}: not found; build it with `cargo build -p xenstore-client --features cli` or pass --xs PATH",
        xs.display()
    )))
}

fn run_bundle(cli: &Cli, a: &BundleArgs) -> Result<()> {
    use package_defs::build;
    use std::io::IsTerminal;
    if a.output.exists() && !a.replace {
        return Err(package_defs::bundle::BundleError::Exists {
            path: a.output.clone(),
        }
        .into());
    }
    let xs = match &a.xs {
        Some(x) if x.is_file() => x.clone(),
        Some(x) => {
            return Err(qxk_cli::problem(format!(
                "{}: not found; expected the xs program (cargo build -p xenstore-client --features cli)",
                x.display()
            )))
        }
        None => xs_beside_me()?,
    };
    let defs = load(cli)?;
    let mut opts = build::BuildOptions {
        mode: build::Mode::Vm,
        progress: !cli.global.quiet && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    a.make.apply(&mut opts);
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let built = work.path().join("vm");
    build::fetch_and_build(
        &defs,
        &a.package,
        &sources,
        &work.path().join("fetch"),
        &opts,
        &built,
    )?;
    let r = package_defs::bundle::write(&built, &xs, &a.output, a.replace)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else if !cli.global.quiet {
        println!(
            "{} ({} bytes, {} entries, sha256 {})",
            r.file.display(),
            r.bytes,
            r.entries,
            r.sha256
        );
    }
    Ok(())
}

/// In a repository with `.guix-authorizations` (on `base`), the bot must sign with a key
/// that file lists.
fn check_signing_key(repo: &std::path::Path, base: &str, key: Option<&str>) -> Result<()> {
    let git = |args: &[&str]| {
        qxk_process::Cmd::new("git")
            .args(args)
            .current_dir(repo)
            .timeout(std::time::Duration::from_secs(60))
            .run()
    };
    // Only a base without the file is "not an authenticated channel"; a base that does not
    // resolve (or a git that fails) must not skip the check.
    let commit = format!("{base}^{{commit}}");
    git(&["rev-parse", "--verify", "--quiet", &commit]).map_err(|_| {
        qxk_cli::usage(format!(
            "--base {base}: no such commit in {}; name the branch the bumps start from",
            repo.display()
        ))
    })?;
    let listed = git(&["ls-tree", "--name-only", base, "--", ".guix-authorizations"])?;
    if listed.stdout_lossy().trim().is_empty() {
        return Ok(());
    }
    let out = git(&["show", &format!("{base}:.guix-authorizations")])?;
    let authorized = guix::authorized_fingerprints(&String::from_utf8_lossy(&out.stdout));
    let Some(key) = key else {
        anyhow::bail!(
            "{}/.guix-authorizations lists the keys that may sign this channel's commits ({}); pass --sign with one of them",
            repo.display(),
            authorized.join(", ")
        );
    };
    let gpg = qxk_process::Cmd::new("gpg")
        .args(["--batch", "--with-colons", "--fingerprint", key])
        .timeout(std::time::Duration::from_secs(60))
        .output()?;
    let fpr = String::from_utf8_lossy(&gpg.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .filter(|_| gpg.status.success());
    let Some(fpr) = fpr else {
        anyhow::bail!("--sign {key}: gpg has no such key in its keyring (GNUPGHOME); import the bot's secret key");
    };
    anyhow::ensure!(
        authorized.iter().any(|a| a.eq_ignore_ascii_case(&fpr)),
        "--sign {key}: key {fpr} is not in {}'s .guix-authorizations ({}); Guix would refuse its commits. Sign with an authorized key, or authorize this one in a commit signed by an authorized key",
        base,
        authorized.join(", ")
    );
    Ok(())
}

fn git_toplevel(dir: &std::path::Path) -> Result<PathBuf> {
    let out = qxk_process::Cmd::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .timeout(std::time::Duration::from_secs(60))
        .run()
        .with_context(|| {
            format!(
                "{} is not in a git repository; the bot commits its bumps, pass --repo",
                dir.display()
            )
        })?;
    Ok(PathBuf::from(out.stdout_lossy().trim()))
}

fn show_text(p: &package_defs::Package) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} ({}, {})",
        p.name,
        p.version,
        p.kind(),
        p.path.display()
    );
    match &p.body {
        Body::Xen(x) => {
            let stream = match &x.stream.reference {
                package_defs::StreamRef::Branch(b) => format!("branch {b}"),
                package_defs::StreamRef::Commit(c) => format!("commit {c}"),
            };
            let _ = writeln!(
                s,
                "  stream: {} {} (Xen {})",
                x.stream.repo, stream, x.stream.xen_series
            );
            let _ = writeln!(s, "  data: {}", x.data);
            let u = &x.upstream;
            let unpinned = package_defs::defs::model::UNPINNED;
            let _ = writeln!(
                s,
                "  upstream ({} origin): {} {} {}\n    nar sha256 {}",
                u.origin.as_str(),
                u.git,
                u.tag,
                u.commit.as_deref().unwrap_or(unpinned),
                u.nar_sha256.as_deref().unwrap_or(unpinned)
            );
            let _ = writeln!(
                s,
                "  tarball: {} sha256 {}\n    sig {}",
                u.tarball.url,
                u.tarball.sha256.as_deref().unwrap_or(unpinned),
                u.tarball.sig_url
            );
            let _ = writeln!(s, "  signing keys: {}", u.signing_keys.join(", "));
            let _ = writeln!(s, "  hv_abi: {}", x.hv_abi);
            let _ = writeln!(s, "  configure flags: {}", x.configure_flags.join(" "));
        }
        Body::QubesData(d) => {
            let so = &d.source;
            let _ = writeln!(
                s,
                "  source: {} {} {}\n    nar sha256 {}",
                so.repo,
                so.tag.as_deref().unwrap_or("(untagged commit, unsigned)"),
                so.commit,
                so.nar_sha256
            );
            let _ = writeln!(s, "  signing keys: {}", so.signing_keys.join(", "));
            let _ = writeln!(s, "  config: {} sha256 {}", d.config.file, d.config.sha256);
            let sec = d
                .patches
                .iter()
                .filter(|p| package_defs::update::SECURITY_RANGE.contains(&p.number))
                .count();
            let _ = writeln!(s, "  patches: {} ({} security)", d.patches.len(), sec);
            for pp in &d.patches {
                let _ = writeln!(s, "    {:04} {} {}", pp.number, pp.file, pp.sha256);
            }
        }
    }
    s
}

fn main() -> ExitCode {
    let cli: Cli = qxk_cli::parse();
    cli.global.init_logging();
    qxk_cli::finish(run(&cli))
}
