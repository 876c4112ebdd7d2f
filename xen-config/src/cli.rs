//! What both command lines that reconcile (`xen-config reconcile` and `package-defs
//! reconcile`) share: the probe options as clap arguments, loading a tree with them, and the
//! reconcile run itself, so the two binaries stay thin and cannot drift apart.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::probe::Replay;
use crate::probe_cache::ProbeCache;
use crate::reconcile::Reconciliation;
use crate::tools_flags::OwnedFlagSet;
use crate::{Error, Kconfig, Result, XenTarget};

/// How a tree's host probes (`$(shell,...)` and the make-level checks) are answered.
#[derive(clap::Args, Clone, Debug)]
pub struct ProbeArgs {
    /// XEN_TARGET_ARCH.
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    pub arch: Arch,
    /// Compiler the host probes ask about.
    #[arg(long, default_value = "gcc")]
    pub cc: String,
    /// Linker the host probes ask about.
    #[arg(long, default_value = "ld")]
    pub ld: String,
    /// Answer `$(shell,...)` probes from this JSON file (command -> output) instead of the host.
    #[arg(long)]
    pub probes: Option<PathBuf>,
    /// Write the host's probe answers to this JSON file for later --probes runs.
    #[arg(long)]
    pub record_probes: Option<PathBuf>,
    /// Probe cache file [default: $XDG_CACHE_HOME/qubes-xen-kit/kconfig-probes.json]. Answers
    /// are keyed by command, probe environment and the toolchain's identity (path, size, mtime).
    #[arg(long, value_name = "FILE")]
    pub probe_cache: Option<PathBuf>,
    /// Probe the host every time; neither read nor write the probe cache.
    #[arg(long, conflicts_with = "probe_cache")]
    pub no_probe_cache: bool,
}

/// The XEN_TARGET_ARCH values Xen's hypervisor Kconfig knows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    Arm64,
    #[value(name = "arm32")]
    Arm32,
    #[value(name = "riscv64")]
    Riscv64,
    #[value(name = "ppc64")]
    Ppc64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Arm32 => "arm32",
            Arch::Riscv64 => "riscv64",
            Arch::Ppc64 => "ppc64",
        }
    }
}

/// Parses `xen_dir/Kconfig` answering probes as `args` says: from a recording, or from the
/// host through the persistent cache (probes run concurrently).
pub fn load_tree(xen_dir: &Path, args: &ProbeArgs) -> Result<Kconfig> {
    let target = XenTarget {
        arch: args.arch.as_str().to_string(),
        cc: args.cc.clone(),
        ld: args.ld.clone(),
        vendor_version: String::new(),
    };
    if let Some(p) = &args.probes {
        let text = std::fs::read_to_string(p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        let answers: BTreeMap<String, String> =
            serde_json::from_str(&text).map_err(|e| Error::Probes {
                path: p.clone(),
                msg: format!("{e}; expected a JSON object command -> output"),
            })?;
        return crate::load_xen_tree(xen_dir, &target, &mut Replay { answers });
    }
    let cache_path = if args.no_probe_cache {
        None
    } else {
        args.probe_cache
            .clone()
            .or_else(crate::probe_cache::default_path)
    };
    let mut cache = cache_path.map(|p| ProbeCache::open(&p));
    let (k, answers) = crate::load_xen_tree_host_cached(xen_dir, &target, cache.as_mut())?;
    if let Some(c) = &mut cache {
        tracing::debug!(hits = c.hits, misses = c.misses, "probe cache");
        // A cache that cannot be written only costs speed next time.
        if let Err(e) = c.save() {
            tracing::warn!(
                "cannot save the probe cache {}: {e} (use --no-probe-cache or --probe-cache FILE)",
                c.path().display()
            );
        }
    }
    if let Some(p) = &args.record_probes {
        let text = serde_json::to_string_pretty(&answers).map_err(|e| Error::Probes {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        std::fs::write(p, text).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    Ok(k)
}

/// One reconcile run: a tree, Qubes' config, and optionally the tree the config was made for,
/// the source roots (for the tools `configure` flags) and a package definition's flags.
pub struct Request<'a> {
    pub xen_dir: &'a Path,
    pub config: &'a [u8],
    pub base_xen_dir: Option<&'a Path>,
    /// Full source root (holds tools/configure.ac); default: the parent of `xen_dir` if it has one.
    pub source_root: Option<PathBuf>,
    pub base_source_root: Option<PathBuf>,
    pub package_flags: Option<OwnedFlagSet>,
    /// Symbols (`CONFIG_` optional) and `--flags` whose problems are accepted.
    pub accept: &'a [String],
    pub probes: &'a ProbeArgs,
}

/// Loads the trees and reconciles; `problems` of the result are what makes the run fail.
pub fn reconcile(req: Request<'_>) -> Result<Reconciliation> {
    let target = load_tree(req.xen_dir, req.probes)?;
    let base = match req.base_xen_dir {
        Some(d) => {
            let mut p = req.probes.clone();
            p.record_probes = None;
            Some(load_tree(d, &p)?)
        }
        None => None,
    };
    let accept: BTreeSet<String> = req
        .accept
        .iter()
        .map(|a| {
            if a.starts_with("--") {
                a.clone()
            } else {
                a.trim_start_matches("CONFIG_").to_string()
            }
        })
        .collect();
    let mut r = crate::reconcile::reconcile(
        &target,
        req.xen_dir,
        base.as_ref().zip(req.base_xen_dir),
        req.config,
        &accept,
    );
    let with_configure = |d: &Path| {
        let p = d.join("..");
        p.join("tools/configure.ac").exists().then_some(p)
    };
    let root = req.source_root.or_else(|| with_configure(req.xen_dir));
    if let Some(root) = root {
        let base_root = req
            .base_source_root
            .or_else(|| req.base_xen_dir.and_then(with_configure));
        r.tools = Some(crate::reconcile::tools_report(
            &root,
            base_root.as_deref(),
            req.package_flags,
            &accept,
            &mut r.problems,
        )?);
    }
    Ok(r)
}

/// Prints a reconciliation (pretty JSON or text) on stdout; its problems become the error
/// both CLIs exit 1 with (`qxk_cli::problem`).
pub fn print_reconciliation(r: &Reconciliation, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print!("{}", r.to_text());
    }
    if r.problems.is_empty() {
        return Ok(());
    }
    Err(qxk_cli::problem(format!(
        "{} problem(s) to fix or --accept:\n  {}",
        r.problems.len(),
        r.problems.join("\n  ")
    )))
}
