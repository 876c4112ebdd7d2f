//! `package-defs`: list, show, update, verify, prepare and export the Xen package definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use package_defs::fetch::{self, GitSources};
use package_defs::update::{self, Allow};
use package_defs::{guix, load_dir, txn, verify, Body, Definitions, QubesVersion};

const EXAMPLES: &str = "Examples:
  package-defs update xen 4.17.4-6 --diff
  package-defs update qubes-xen-next --commit 0123456789abcdef0123456789abcdef01234567
  package-defs update qubes-xen-next 4.19.5-1 --dry-run --json
  package-defs --url-rewrite https://github.com/=http://mirror.local/github/ verify
  package-defs prepare xen --vendor vendor
  package-defs list
  package-defs show xen --json
  package-defs export guix > qubes-xen-kit/sources.scm
  package-defs --definitions path/to/definitions list
  package-defs bot --dry-run";

#[derive(Parser)]
#[command(name = "package-defs", version, about = "Pinned, verified definitions of Qubes OS's Xen packages", after_help = EXAMPLES)]
struct Cli {
    /// Folder of definition files (default: ./definitions, else the one shipped with this crate).
    #[arg(long, global = true, env = "PACKAGE_DEFS_DIR")]
    definitions: Option<PathBuf>,
    /// Only print errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Rewrite URL prefix FROM to TO for every fetch, git and HTTP (repeatable; also
    /// PACKAGE_DEFS_URL_REWRITE="FROM=TO;FROM2=TO2").
    #[arg(long = "url-rewrite", value_name = "FROM=TO", global = true)]
    url_rewrite: Vec<String>,
    /// Download cache (git mirrors and files keyed by hash).
    #[arg(long, global = true, env = "PACKAGE_DEFS_CACHE")]
    cache: Option<PathBuf>,
    /// Stop any single network operation after this many seconds.
    #[arg(long, global = true, default_value_t = 300)]
    timeout: u64,
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
    /// Show every pin of one package.
    #[command(after_help = "Example:\n  package-defs show qubes-vmm-xen-data --json")]
    Show {
        package: String,
        #[arg(long)]
        json: bool,
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
    /// Build Xen as Qubes' spec does: series, config completed by xen-config, `make xen`,
    /// `./configure` + `make dist-tools`; into an output folder with a JSON manifest.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),
    /// Export the definitions in another format.
    #[command(subcommand)]
    Export(Export),
    /// The weekend bump bot: bump every stream to its newest landed Qubes tag, one commit
    /// per package on branch <prefix><date>, after the build gate passes.
    #[command(after_help = BOT_EXAMPLES)]
    Bot(BotArgs),
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

Output: xen.gz, config (the final .config), xen.efi, install/ (the installed tools tree),
tree/ (the built source tree, for XEN_SYS_SOURCE), logs/ and manifest.json (input pins,
toolchain versions, output sha256s). A failed build leaves no output, only
<output>.failed-logs/. Finished builds are cached by the key of every input under
$QXK_CACHE_DIR/xen-build (default /var/cache/qubes-xen-kit/xen-build).";

#[derive(clap::Args)]
struct BuildArgs {
    /// A package of kind "xen".
    package: String,
    /// Output folder [default: out/<package>-<version>-<rel>].
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Everything, or the hypervisor alone.
    #[arg(long, value_enum, default_value_t = package_defs::build::Mode::Full)]
    mode: package_defs::build::Mode,
    /// Parallel make jobs [default: the number of CPUs].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Kill a step that prints nothing for this many seconds.
    #[arg(long, default_value_t = 600)]
    inactivity_timeout: u64,
    /// Kill a step that runs longer than this many seconds.
    #[arg(long, default_value_t = 10800)]
    step_timeout: u64,
    /// Build cache folder [default: $QXK_CACHE_DIR/xen-build or /var/cache/qubes-xen-kit/xen-build].
    #[arg(long)]
    build_cache: Option<PathBuf>,
    /// Neither use nor fill the build cache.
    #[arg(long, conflicts_with = "build_cache")]
    no_cache: bool,
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
    #[arg(long, default_value = "saturday")]
    landing_day: String,
    /// Build gate command run in the worktree after each update (`sh -c`; {package} and
    /// {version} are replaced); repeatable. Default: the workspace's tests and `prepare`.
    #[arg(long, value_name = "CMD")]
    gate: Vec<String>,
    /// Seconds each gate command may take.
    #[arg(long, default_value_t = 3600)]
    gate_timeout: u64,
    /// Where tags are listed: `git` (any forge, git protocol) or `github` (REST API with
    /// ETag caching; token from $GITHUB_TOKEN).
    #[arg(long, default_value = "git")]
    forge: String,
    /// The run's day, YYYY-MM-DD (default: today, UTC): replays and tests.
    #[arg(long)]
    today: Option<String>,
    /// Plan only: print what would be bumped; touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not fetch the release tarball + .sig (its sha256 stays unpinned).
    #[arg(long)]
    skip_tarball: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Export {
    /// A Guix channel module `(qubes-xen-kit sources)` with an origin for every source.
    #[command(
        after_help = "Example:\n  package-defs export guix -o channel/qubes-xen-kit/sources.scm"
    )]
    Guix {
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn definitions_dir(cli: &Cli) -> PathBuf {
    if let Some(d) = &cli.definitions {
        return d.clone();
    }
    let local = PathBuf::from("definitions");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../definitions"))
}

fn load(cli: &Cli) -> Result<Definitions> {
    Ok(load_dir(&definitions_dir(cli))?)
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
        cli.quiet,
    )
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
        Command::Show { package, json } => {
            let defs = load(cli)?;
            let p = defs.get(package).with_context(|| {
                format!(
                    "unknown package '{package}'; known: {}",
                    defs.names().join(", ")
                )
            })?;
            if *json {
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
            let allow = Allow {
                downgrade: *allow_downgrade,
                stream: *allow_stream,
                repin: *repin,
            };
            let asked = version.as_deref().map(QubesVersion::parse).transpose()?;
            let sources = sources(cli)?;
            let work = tempfile::tempdir().context("cannot create a work folder")?;
            let resolved = match (commit, asked) {
                (None, Some(v)) => update::resolve(&defs, package, v, allow),
                (None, None) => anyhow::bail!(
                    "update {package}: give the VERSION-REL to pin (e.g. 4.17.4-6), or --commit SHA for a stream pinned to a commit"
                ),
                (Some(c), asked) => {
                    // Refuse a tagged stream, an unknown package or a bad id before fetching.
                    let x = update::commit_stream(&defs, package, c)?;
                    let found = fetch::version_at_commit(&x.stream.repo, c, &sources, work.path())
                        .with_context(|| format!("Qubes data at commit {c} of {}", x.stream.repo))?;
                    if let Some(v) = asked.filter(|v| *v != found) {
                        return Err(update::UpdateError::CommitMismatch {
                            commit: c.clone(),
                            found,
                            expected: v,
                        }
                        .into());
                    }
                    update::resolve_commit(&defs, package, c, found, allow)
                }
            };
            let t = match resolved {
                // Asking for what is pinned is a no-op, not a failure (a bot or a script may
                // rerun an update); `--repin` fetches it again.
                Err(e) if e.is_already_pinned() => {
                    if *json {
                        let v = serde_json::json!({"report": null, "written": false, "diff": null, "already_pinned": e.to_string()});
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else if !cli.quiet {
                        println!("{e}");
                    }
                    return Ok(());
                }
                r => r?,
            };
            let fetched =
                fetch::fetch_for_update(&defs.dir, &t, &sources, work.path(), !skip_tarball)?;
            let plan = update::plan(&defs, &t, &fetched)?;
            let diff_text = diff.then(|| update::diff(&defs.dir, &plan.changes));
            if !dry_run {
                txn::commit(&defs.dir, &plan.changes)?;
            }
            if *json {
                let v = serde_json::json!({"report": plan.report, "written": !dry_run, "diff": diff_text});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                if let Some(d) = &diff_text {
                    print!("{d}");
                }
                if !cli.quiet {
                    print!("{}", update::render(&plan.report));
                    println!(
                        "{}",
                        if *dry_run {
                            "dry run: nothing written"
                        } else {
                            "definitions updated"
                        }
                    );
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
                        if !cli.quiet {
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
                anyhow::bail!("{failed} package(s) do not match their pins");
            }
        }
        Command::Prepare { package, vendor } => {
            let defs = load(cli)?;
            let sources = sources(cli)?;
            let work = tempfile::tempdir().context("cannot create a work folder")?;
            let out = verify::fetch_and_prepare(&defs, package, &sources, work.path(), vendor)?;
            if !cli.quiet {
                println!("{}", out.display());
            }
        }
        Command::Bot(args) => run_bot(cli, args)?,
        Command::Build(args) => run_build(cli, args)?,
        Command::Export(Export::Guix { output }) => {
            let defs = load(cli)?;
            let text = guix::export(&defs)?;
            match output {
                Some(o) => std::fs::write(o, text)
                    .with_context(|| format!("cannot write {}", o.display()))?,
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

fn run_bot(cli: &Cli, args: &BotArgs) -> Result<()> {
    use bump_bot::{BotConfig, GitHubTags, GitTags, TagSource};
    let defs_dir = std::fs::canonicalize(definitions_dir(cli))
        .with_context(|| format!("definitions folder {}", definitions_dir(cli).display()))?;
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
    let landing_day = parse_weekday(&args.landing_day)?;
    let today = match &args.today {
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .with_context(|| format!("--today {d:?}: expected YYYY-MM-DD"))?,
        None => time::OffsetDateTime::now_utc().date(),
    };
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
    let tags: Box<dyn TagSource> = match args.forge.as_str() {
        "git" => Box::new(GitTags::new(
            state_dir.join("tags"),
            std::sync::Arc::new(move |u: &str| rewrites.apply(u)),
        )),
        "github" => {
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
        other => anyhow::bail!("--forge {other:?}: expected `git` or `github`"),
    };
    let packages = package_defs::bot::DefinitionsPackages {
        sources: &sources,
        with_tarball: !args.skip_tarball,
    };
    let report = bump_bot::run(&cfg, &packages, tags.as_ref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !cli.quiet || report.failed() {
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
        anyhow::bail!("bot run failed: {}", failed.join(", "));
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
        limits: bump_bot::process::Limits {
            inactivity: std::time::Duration::from_secs(a.inactivity_timeout),
            total: std::time::Duration::from_secs(a.step_timeout),
        },
        cache: if a.no_cache {
            None
        } else {
            a.build_cache.clone().or_else(build::default_cache_dir)
        },
        replace: a.replace,
        progress: !cli.quiet && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    if let Some(j) = a.jobs {
        opts.jobs = j;
    }
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let m = build::fetch_and_build(&defs, &a.package, &sources, work.path(), &opts, &out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else if !cli.quiet {
        println!("{}", out.display());
        for (f, h) in &m.outputs {
            println!("  {f:<8} {h}");
        }
    }
    Ok(())
}

fn git_toplevel(dir: &std::path::Path) -> Result<PathBuf> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(dir)
        .output()
        .context("cannot run git")?;
    anyhow::ensure!(
        out.status.success(),
        "{} is not in a git repository; the bot commits its bumps, pass --repo",
        dir.display()
    );
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn parse_weekday(s: &str) -> Result<time::Weekday> {
    use time::Weekday::*;
    let days = [
        Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
    ];
    days.into_iter()
        .find(|d| d.to_string().eq_ignore_ascii_case(s))
        .with_context(|| format!("--landing-day {s:?}: expected a weekday such as saturday"))
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
            let unpinned = package_defs::model::UNPINNED;
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
    let cli = Cli::parse();
    let level = if cli.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
