//! `package-defs update`: one run of the update pipeline, its report printed.

use anyhow::Result;
use package_defs::update::pipeline::{self, Outcome};
use package_defs::update::{self, Allow};
use package_defs::QubesVersion;

use super::{load, sources};
use crate::Cli;

#[derive(clap::Args)]
pub(crate) struct UpdateArgs {
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
}

pub(crate) fn run(cli: &Cli, args: &UpdateArgs) -> Result<()> {
    let UpdateArgs {
        package,
        version,
        commit,
        allow_downgrade,
        allow_stream,
        dry_run,
        diff,
        json,
        skip_tarball,
        repin,
    } = args;
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
                let v =
                    serde_json::json!({"report": plan.report, "written": written, "diff": diff});
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
    Ok(())
}
