//! xen-config: a Kconfig engine for Xen's hypervisor configuration whose `olddefconfig` and
//! `savedefconfig` output is byte-identical to Xen's own kconfig `conf`, and a reconciler
//! that says which of Qubes' pinned config values are deliberate, stale or derived.
//!
//! ```no_run
//! use xen_config::{load_xen_tree, Input, XenTarget, probe::HostShell};
//! let dir = std::path::Path::new("xen-4.17.5/xen");
//! let mut shell = HostShell { cwd: dir.into(), env: vec![] };
//! let mut k = load_xen_tree(dir, &XenTarget::default(), &mut shell).unwrap();
//! let (config, _report) = k.olddefconfig(Input::Missing, dir);
//! print!("{config}");
//! ```

pub mod c_defaults;
pub mod cnum;
pub mod dotconfig;
pub mod error;
mod eval;
pub mod guest_libs;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod preprocess;
pub mod probe;
pub mod reconcile;
pub mod tools_flags;
pub mod xen_env;

use std::path::Path;

pub use dotconfig::{Input, ReadReport};
pub use error::{Error, Result};
pub use model::Kconfig;
pub use parser::{parse, ParseInput};
pub use xen_env::XenTarget;

/// Parses `xen_dir/Kconfig` with the environment Xen's make would give `conf`. The probe
/// answers both the make-level checks and the tree's `$(shell,...)` calls; for a
/// [`probe::HostShell`] set its `env` from [`xen_env::xen_env`] so commands see CC and LD.
pub fn load_xen_tree(
    xen_dir: &Path,
    target: &XenTarget,
    shell: &mut dyn probe::ShellProbe,
) -> Result<Kconfig> {
    let env = xen_env::xen_env(xen_dir, target, shell)?;
    parse(
        ParseInput {
            root: xen_dir,
            top: "Kconfig",
            env,
            files: Default::default(),
        },
        shell,
    )
}

/// Parses a Xen tree probing the real host, with the probes run concurrently: a dry parse
/// learns which commands the tree asks, they run in parallel, then the real parse uses their
/// answers (running live anything the dry run could not foresee). Returns the tree and every
/// answer, for `--record-probes`.
pub fn load_xen_tree_host(
    xen_dir: &Path,
    target: &XenTarget,
) -> Result<(Kconfig, std::collections::BTreeMap<String, String>)> {
    use probe::{run_concurrently, Collector, HostShell, Prefetched};
    let mut host = HostShell {
        cwd: xen_dir.to_path_buf(),
        env: vec![],
    };
    let mut dry = Collector::default();
    let env = xen_env::xen_env(xen_dir, target, &mut dry)?;
    let make_level = dry.commands.clone();
    let _ = parse(
        ParseInput {
            root: xen_dir,
            top: "Kconfig",
            env,
            files: Default::default(),
        },
        &mut dry,
    );
    // The make-level checks decide the environment the tree's probes see: run them first.
    let mut pre = Prefetched {
        answers: run_concurrently(&host, &make_level),
        host: host.clone(),
    };
    let env = xen_env::xen_env(xen_dir, target, &mut pre)?;
    host.env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let tree_cmds: Vec<String> = dry
        .commands
        .into_iter()
        .filter(|c| !make_level.contains(c))
        .collect();
    let mut answers = pre.answers;
    answers.extend(run_concurrently(&host, &tree_cmds));
    let mut probe = Prefetched { answers, host };
    let k = parse(
        ParseInput {
            root: xen_dir,
            top: "Kconfig",
            env,
            files: Default::default(),
        },
        &mut probe,
    )?;
    let used = probe
        .answers
        .into_iter()
        .map(|(c, o)| (c, String::from_utf8_lossy(&o).into_owned()))
        .collect();
    Ok((k, used))
}

/// Entry point for fuzzing: parses a Kconfig file held in memory, then runs olddefconfig
/// and savedefconfig on `config`. Bad input must give errors, never panics. Returns whether
/// the Kconfig parsed (so tests can tell they reached the evaluator).
pub fn fuzz_kconfig_and_config(kconfig: &[u8], config: &[u8]) -> bool {
    let files = [("Kconfig".to_string(), kconfig.to_vec())].into();
    let mut shell = probe::Replay::default();
    let dir = Path::new("/nonexistent-xen-config-fuzz");
    if let Ok(k) = parse(
        ParseInput {
            root: dir,
            top: "Kconfig",
            env: Default::default(),
            files,
        },
        &mut shell,
    ) {
        let _ = k.clone().olddefconfig(Input::Config(config), dir);
        let _ = k.clone().savedefconfig(Input::Config(config), dir);
        let _ = k.clone().olddefconfig(Input::Missing, dir);
        return true;
    }
    false
}
