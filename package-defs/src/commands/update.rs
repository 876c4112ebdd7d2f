//! `package-defs update`: one run of the update pipeline, its report printed.

use anyhow::Result;
use package_defs::update::pipeline::{self, Outcome};
use package_defs::update::{self, Allow};
use package_defs::QubesVersion;

use super::{load, load_components, sources};
use crate::Cli;
use package_defs::component::{self, ComponentVersion};

#[derive(clap::Args)]
pub(crate) struct UpdateArgs {
    /// A package of kind "xen" (its data package is updated with it), or a Qubes component
    /// of definitions/components/ (VERSION is then its tag's X.Y.Z).
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
    let components = load_components(cli, &defs)?;
    if let Some(c) = components.iter().find(|c| &c.name == package) {
        return update_component(cli, args, c, &sources(cli)?);
    }
    // Not a component: a xen package, checked before anything is fetched.
    super::xen_package(&defs, package)?;
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

/// `update COMPONENT X.Y.Z`: the signed tag `vX.Y.Z` checked (key, name, component, version,
/// branch), hashed and pinned, all or nothing.
fn update_component(
    cli: &Cli,
    args: &UpdateArgs,
    c: &component::Component,
    sources: &package_defs::sources::fetch::GitSources,
) -> Result<()> {
    if args.commit.is_some() || args.skip_tarball || args.diff {
        return Err(qxk_cli::usage(format!(
            "{}: --commit, --skip-tarball and --diff are for xen packages; a component follows the signed tags of {}",
            c.name, c.source.branch
        )));
    }
    let Some(version) = &args.version else {
        return Err(qxk_cli::usage(format!(
            "{}: give the version to pin (X.Y.Z, Qubes' tag vX.Y.Z)",
            c.name
        )));
    };
    let target = ComponentVersion::parse(version).map_err(qxk_cli::usage)?;
    let dir = super::definitions_dir(cli)?;
    let work = tempfile::tempdir()?;
    let allow = component::Allow {
        downgrade: args.allow_downgrade,
        stream: args.allow_stream,
        repin: args.repin,
    };
    match component::update(&dir, c, target, allow, args.dry_run, sources, work.path()) {
        Ok(u) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&u)?);
            } else if !cli.global.quiet {
                println!(
                    "{}: {} -> {} (tag {}, commit {}, NAR sha256 {})\n{}",
                    u.package,
                    u.from,
                    u.to,
                    u.pins.tag,
                    u.pins.commit,
                    u.pins.nar_sha256,
                    if u.written {
                        "definitions updated"
                    } else {
                        "dry run: nothing written"
                    }
                );
            }
            Ok(())
        }
        Err(e)
            if matches!(
                e.downcast_ref::<component::ComponentError>(),
                Some(component::ComponentError::AlreadyPinned { .. })
            ) =>
        {
            if !cli.global.quiet {
                println!("{e}");
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}
