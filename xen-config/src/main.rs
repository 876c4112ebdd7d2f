//! `xen-config`: Xen Kconfig evaluation and reconciliation of Qubes' config.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use xen_config::probe::Replay;
use xen_config::probe_cache::ProbeCache;
use xen_config::{Input, Kconfig, XenTarget};

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
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct TreeArgs {
    /// The Xen `xen/` directory (holds `Kconfig`).
    #[arg(long)]
    xen_dir: PathBuf,
    #[command(flatten)]
    probe: ProbeArgs,
}

#[derive(Args, Clone)]
struct ProbeArgs {
    /// XEN_TARGET_ARCH.
    #[arg(long, default_value = "x86_64")]
    arch: String,
    /// Compiler the host probes ask about.
    #[arg(long, default_value = "gcc")]
    cc: String,
    /// Linker the host probes ask about.
    #[arg(long, default_value = "ld")]
    ld: String,
    /// Answer `$(shell,...)` probes from this JSON file (command -> output) instead of the host.
    #[arg(long)]
    probes: Option<PathBuf>,
    /// Write the host's probe answers to this JSON file for later --probes runs.
    #[arg(long)]
    record_probes: Option<PathBuf>,
    /// Probe cache file [default: $XDG_CACHE_HOME/qubes-xen-kit/kconfig-probes.json]. Answers
    /// are keyed by command, probe environment and the toolchain's identity (path, size, mtime).
    #[arg(long, value_name = "FILE")]
    probe_cache: Option<PathBuf>,
    /// Probe the host every time; neither read nor write the probe cache.
    #[arg(long, conflicts_with = "probe_cache")]
    no_probe_cache: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Like `make -C xen olddefconfig`: complete a config with defaults.
    #[command(
        after_help = "Example:\n  xen-config olddefconfig --xen-dir xen/ --config qubes-config -o xen/.config"
    )]
    Olddefconfig {
        #[command(flatten)]
        tree: TreeArgs,
        /// Input config; without it, the tree's defconfig_list file is used, as conf does.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Like `make -C xen savedefconfig`: the minimal config.
    #[command(
        after_help = "Example:\n  xen-config savedefconfig --xen-dir xen/ --config xen/.config"
    )]
    Savedefconfig {
        #[command(flatten)]
        tree: TreeArgs,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Classify every symbol of Qubes' config against a Xen tree; exit 1 on stale pins or
    /// symbols the tree dropped, unless accepted.
    #[command(
        after_help = "Examples:\n  xen-config reconcile --xen-dir xen-4.19/xen --base-xen-dir xen-4.17/xen --qubes-config config\n  xen-config reconcile --xen-dir xen/ --qubes-config config --accept XENOPROF --json\n  package-defs prepare xen --vendor vendor && xen-config reconcile --definitions definitions --package xen --vendor vendor"
    )]
    Reconcile {
        /// The Xen `xen/` directory (holds `Kconfig`); with --package, the prepared tree's.
        #[arg(long, required_unless_present = "package", conflicts_with = "package")]
        xen_dir: Option<PathBuf>,
        #[command(flatten)]
        probe: ProbeArgs,
        /// Definitions folder (with --package).
        #[arg(long, default_value = "definitions")]
        definitions: PathBuf,
        /// Reconcile this xen package of --definitions: its tree, config and configure flags
        /// come from the definition and the tree `package-defs prepare` made in --vendor.
        #[arg(long)]
        package: Option<String>,
        /// Where `package-defs prepare` put the tree (with --package).
        #[arg(long, default_value = "vendor")]
        vendor: PathBuf,
        /// The tree Qubes' config was generated for (tells stale pins from deliberate ones).
        #[arg(long)]
        base_xen_dir: Option<PathBuf>,
        /// Qubes' hypervisor config.
        #[arg(long, required_unless_present = "package", conflicts_with = "package")]
        qubes_config: Option<PathBuf>,
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

fn load(dir: &Path, tree: &ProbeArgs) -> Result<Kconfig> {
    let target = XenTarget {
        arch: tree.arch.clone(),
        cc: tree.cc.clone(),
        ld: tree.ld.clone(),
        vendor_version: String::new(),
    };
    if let Some(p) = &tree.probes {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading probe answers {}", p.display()))?;
        let answers: BTreeMap<String, String> = serde_json::from_str(&text).with_context(|| {
            format!("{}: expected a JSON object command -> output", p.display())
        })?;
        let mut shell = Replay { answers };
        return Ok(xen_config::load_xen_tree(dir, &target, &mut shell)?);
    }
    // Make-level checks first (they set what the tree's probes see), probes run concurrently.
    let cache_path = if tree.no_probe_cache {
        None
    } else {
        tree.probe_cache
            .clone()
            .or_else(xen_config::probe_cache::default_path)
    };
    let mut cache = cache_path.map(|p| ProbeCache::open(&p));
    let (k, answers) = xen_config::load_xen_tree_host_cached(dir, &target, cache.as_mut())?;
    if let Some(c) = &mut cache {
        tracing::debug!(hits = c.hits, misses = c.misses, "probe cache");
        // A cache that cannot be written only costs speed next time.
        if let Err(e) = c.save() {
            eprintln!(
                "warning: cannot save the probe cache {}: {e} (use --no-probe-cache or --probe-cache FILE)",
                c.path().display()
            );
        }
    }
    if let Some(p) = &tree.record_probes {
        std::fs::write(p, serde_json::to_string_pretty(&answers)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(k)
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

fn run_conf(tree: &TreeArgs, config: &Option<PathBuf>, save: bool) -> Result<String> {
    let mut k = load(&tree.xen_dir, &tree.probe)?;
    for m in &k.messages {
        eprintln!("{m}");
    }
    let data = read_input(config)?;
    let input = match &data {
        Some(d) => Input::Config(d),
        None => Input::Missing,
    };
    let dir: &Path = &tree.xen_dir;
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

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Olddefconfig {
            tree,
            config,
            output,
        } => emit(output, &run_conf(tree, config, false)?),
        Cmd::Savedefconfig {
            tree,
            config,
            output,
        } => emit(output, &run_conf(tree, config, true)?),
        Cmd::Reconcile {
            xen_dir,
            probe,
            definitions,
            package,
            vendor,
            base_xen_dir,
            qubes_config,
            source_root,
            base_source_root,
            accept,
            json,
        } => {
            // Either a tree and a config, or a definition and the tree prepared from it.
            let (xen_dir, config, source_root, package_flags) = match package {
                Some(name) => {
                    let p = xen_config::package_input::load(definitions, name, vendor)?;
                    let flags = xen_config::tools_flags::OwnedFlagSet {
                        who: format!("definition {name}"),
                        source: format!("{} (configure_flags)", p.definition.display()),
                        flags: p.configure_flags,
                    };
                    (p.xen_dir, p.config, Some(p.source_root), Some(flags))
                }
                None => {
                    let (Some(xen_dir), Some(qubes_config)) = (xen_dir, qubes_config) else {
                        bail!("pass --xen-dir and --qubes-config, or --package NAME");
                    };
                    let config = std::fs::read(qubes_config)
                        .with_context(|| format!("reading {}", qubes_config.display()))?;
                    (xen_dir.clone(), config, source_root.clone(), None)
                }
            };
            let target = load(&xen_dir, probe)?;
            let base = match base_xen_dir {
                Some(d) => {
                    let mut p = probe.clone();
                    p.record_probes = None;
                    Some(load(d, &p)?)
                }
                None => None,
            };
            let accept: std::collections::BTreeSet<String> = accept
                .iter()
                .map(|a| {
                    if a.starts_with("--") {
                        a.clone()
                    } else {
                        a.trim_start_matches("CONFIG_").to_string()
                    }
                })
                .collect();
            let mut r = xen_config::reconcile::reconcile(
                &target,
                &xen_dir,
                base.as_ref().zip(base_xen_dir.as_deref()),
                &config,
                &accept,
            );
            let root = source_root.or_else(|| {
                let p = xen_dir.join("..");
                p.join("tools/configure.ac").exists().then_some(p)
            });
            if let Some(root) = root {
                let base_root = base_source_root.clone().or_else(|| {
                    let p = base_xen_dir.as_ref()?.join("..");
                    p.join("tools/configure.ac").exists().then_some(p)
                });
                r.tools = Some(xen_config::reconcile::tools_report(
                    &root,
                    base_root.as_deref(),
                    package_flags,
                    &accept,
                    &mut r.problems,
                )?);
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", r.to_text());
            }
            if !r.problems.is_empty() {
                for p in &r.problems {
                    eprintln!("error: {p}");
                }
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
