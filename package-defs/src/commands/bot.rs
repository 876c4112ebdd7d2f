//! `package-defs bot`: the weekend bump bot, configured from the command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use package_defs::bot::{check_signing_key, git_toplevel};
use package_defs::export::guix;

use super::{definitions_dir, sources};
use crate::Cli;

pub(crate) const BOT_EXAMPLES: &str = "Examples:
  package-defs bot --dry-run
  package-defs bot --sign 0x1234ABCD --json
  package-defs bot --forge github --gate 'cargo test --workspace' --gate 'package-defs prepare {package}'
  package-defs bot --today 2026-06-13 --dry-run      # replay a past weekend

A weekly timer runs `package-defs bot`; a tag Qubes cuts during the week lands on the
Saturday after it (--landing-day). Runs never overlap (a lock), a killed run is finished by
the next, and a bump already committed on the branch is never made twice. Exit status is
non-zero when any package failed; the report names the package and the step.";

#[derive(clap::Args)]
pub(crate) struct BotArgs {
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

pub(crate) fn run(cli: &Cli, args: &BotArgs) -> Result<()> {
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
