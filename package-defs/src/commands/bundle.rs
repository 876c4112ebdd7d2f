//! `package-defs bundle`: a vm build and `xs` packed as one tarball for templates.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::build::MakeArgs;
use super::{load, load_components, sources};
use crate::Cli;

pub(crate) const BUNDLE_EXAMPLES: &str = "Examples:
  package-defs bundle xen -o qubes-xen-guest-4.17.6-6.tar.gz
  package-defs bundle xen -o guest.tar.gz --xs target/release/xs --json

In a template: tar -xzf qubes-xen-guest-<version>.tar.gz -C / (or -C ROOT), then
cd /opt/qubes-xen/current && sha256sum -c share/qubes-xen/SHA256SUMS. Build programs against
it with PKG_CONFIG_PATH=/opt/qubes-xen/current/lib/pkgconfig. share/qubes-xen/uninstall.list
names every file and folder it installed (see the README).";

#[derive(clap::Args)]
pub(crate) struct BundleArgs {
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
    /// Add Qubes' components that build against this package (vchan-xen, QubesDB, qrexec's
    /// VM side: `package-defs build COMPONENT`) under the same prefix.
    #[arg(long)]
    with_components: bool,
    /// Replace an existing tarball.
    #[arg(long)]
    replace: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
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

pub(crate) fn run(cli: &Cli, a: &BundleArgs) -> Result<()> {
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
    super::xen_package(&defs, &a.package)?;
    let mut opts = build::BuildOptions {
        mode: build::Mode::Vm,
        progress: !cli.global.quiet && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    a.make.apply(&mut opts);
    let sources = sources(cli)?;
    let work = tempfile::tempdir().context("cannot create a work folder")?;
    let (built, guest) = if a.with_components {
        let components = load_components(cli, &defs)?;
        let g = work.path().join("guest");
        let gwork = work.path().join("guest-work");
        std::fs::create_dir_all(&gwork)?;
        build::guest::fetch_and_build_guest(
            build::guest::Side::Guest,
            &super::definitions_dir(cli)?,
            &defs,
            &components,
            &a.package,
            &sources,
            &gwork,
            &opts,
            &g,
        )?;
        (gwork.join("xen-vm"), Some(g))
    } else {
        let built = work.path().join("vm");
        build::fetch_and_build(
            &defs,
            &a.package,
            &sources,
            &work.path().join("fetch"),
            &opts,
            &built,
        )?;
        (built, None)
    };
    let r = package_defs::bundle::write_with(&built, &xs, guest.as_deref(), &a.output, a.replace)?;
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
