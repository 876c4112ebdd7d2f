//! `package-defs build`: Xen built from a package's verified trees, into an output folder.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{load, load_components, sources};
use crate::Cli;

pub(crate) const BUILD_EXAMPLES: &str = "Examples:
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

/// What `build` and `bundle` share: make's parallelism and the build cache.
#[derive(clap::Args)]
pub(crate) struct MakeArgs {
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
    pub(crate) fn apply(&self, opts: &mut package_defs::build::BuildOptions) {
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
pub(crate) struct BuildArgs {
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
    /// For a Qubes component: build dom0's side (qrexec-daemon, qrexec-client, qubesdb-daemon
    /// under /usr) against the full build instead of the VM's against the vm build.
    #[arg(long)]
    dom0: bool,
    /// Replace an existing output folder.
    #[arg(long)]
    replace: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: &Cli, a: &BuildArgs) -> Result<()> {
    use package_defs::build;
    use std::io::IsTerminal;
    let defs = load(cli)?;
    let components = load_components(cli, &defs)?;
    if let Some(c) = components.iter().find(|c| c.name == a.package) {
        return run_guest(cli, a, &defs, &components, c);
    }
    if a.dom0 {
        return Err(qxk_cli::usage(format!(
            "--dom0 is for Qubes components (package-defs list); '{}' is not one",
            a.package
        )));
    }
    let p = super::xen_package(&defs, &a.package)?.package;
    let out = match &a.output {
        Some(o) => o.clone(),
        None => PathBuf::from("out").join(format!("{}-{}", p.name, p.version)),
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

/// `build COMPONENT`: the guest chain (vchan-xen, QubesDB, qrexec's VM side) that follows
/// the component's `xen`, built against that package's vm build.
fn run_guest(
    cli: &Cli,
    a: &BuildArgs,
    defs: &package_defs::Definitions,
    components: &[package_defs::component::Component],
    c: &package_defs::component::Component,
) -> Result<()> {
    use package_defs::build;
    use std::io::IsTerminal;
    if a.mode != build::Mode::Full {
        return Err(qxk_cli::usage(format!(
            "{}: --mode is for xen packages; a component builds its guest side against the vm build of `{}`",
            c.name, c.xen
        )));
    }
    let xen = defs
        .get(&c.xen)
        .with_context(|| format!("{}: no package {}", c.path.display(), c.xen))?;
    let out = a.output.clone().unwrap_or_else(|| {
        let side = if a.dom0 { "dom0" } else { "guest" };
        PathBuf::from("out").join(format!("{}-{side}-components-{}", c.xen, xen.version))
    });
    let mut opts = build::BuildOptions {
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
    let side = if a.dom0 {
        build::guest::Side::Dom0
    } else {
        build::guest::Side::Guest
    };
    let m = build::guest::fetch_and_build_guest(
        side,
        &super::definitions_dir(cli)?,
        defs,
        components,
        &c.xen,
        &sources,
        work.path(),
        &opts,
        &out,
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else if !cli.global.quiet {
        println!("{}", out.display());
        for (f, h) in &m.outputs {
            println!("  {f} {h}");
        }
    }
    Ok(())
}
