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
pub mod cli;
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
pub mod probe_cache;
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
    load_xen_tree_host_cached(xen_dir, target, None)
}

/// Answers `commands` from the cache where it can and runs the rest on `host` concurrently,
/// storing their answers in the cache.
fn answer_all(
    host: &probe::HostShell,
    commands: &[String],
    cache: Option<&mut probe_cache::ProbeCache>,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let Some(cache) = cache else {
        return probe::run_concurrently(host, commands);
    };
    let mut answers = std::collections::BTreeMap::new();
    let mut missing = Vec::new();
    for c in commands {
        let key = cache.key(host, c);
        match cache.get(&key) {
            Some(a) => {
                answers.insert(c.clone(), a);
            }
            None => missing.push((c.clone(), key)),
        }
    }
    let cmds: Vec<String> = missing.iter().map(|(c, _)| c.clone()).collect();
    let fresh = probe::run_concurrently(host, &cmds);
    for (c, key) in &missing {
        if let Some(out) = fresh.get(c) {
            cache.insert(key, out);
        }
    }
    answers.extend(fresh);
    answers
}

/// [`load_xen_tree_host`] with a persistent probe cache: answers whose command, environment
/// and toolchain identity are unchanged are not probed again (see [`probe_cache`]). The
/// caller saves the cache.
pub fn load_xen_tree_host_cached(
    xen_dir: &Path,
    target: &XenTarget,
    mut cache: Option<&mut probe_cache::ProbeCache>,
) -> Result<(Kconfig, std::collections::BTreeMap<String, String>)> {
    use probe::{Collector, HostShell, Prefetched, Recorder};
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
        answers: answer_all(&host, &make_level, cache.as_deref_mut()),
        host: host.clone(),
    };
    let env = xen_env::xen_env(xen_dir, target, &mut pre)?;
    host.env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let tree_cmds: Vec<String> = dry
        .commands
        .into_iter()
        .filter(|c| !make_level.contains(c))
        .collect();
    let mut answers = answer_all(&host, &tree_cmds, cache.as_deref_mut());
    // Probes whose commands depend on other answers show up in a dry parse with the answers
    // so far; a few rounds find them all, so they too run concurrently, not one by one.
    for _ in 0..4 {
        let mut more = probe::Discover {
            answers: &answers,
            new: Vec::new(),
        };
        let _ = parse(
            ParseInput {
                root: xen_dir,
                top: "Kconfig",
                env: env.clone(),
                files: Default::default(),
            },
            &mut more,
        );
        if more.new.is_empty() {
            break;
        }
        let found = answer_all(&host, &more.new, cache.as_deref_mut());
        answers.extend(found);
    }
    let prefetched = Prefetched {
        answers,
        host: host.clone(),
    };
    let input = ParseInput {
        root: xen_dir,
        top: "Kconfig",
        env,
        files: Default::default(),
    };
    let mut used: std::collections::BTreeMap<String, String> = pre
        .answers
        .iter()
        .map(|(c, o)| (c.clone(), String::from_utf8_lossy(o).into_owned()))
        .collect();
    let k = match cache {
        Some(cache) => {
            let mut rec = Recorder {
                inner: probe_cache::Cached {
                    cache,
                    host,
                    inner: prefetched,
                },
                answers: Default::default(),
            };
            let k = parse(input, &mut rec)?;
            used.extend(rec.answers);
            k
        }
        None => {
            let mut rec = Recorder {
                inner: prefetched,
                answers: Default::default(),
            };
            let k = parse(input, &mut rec)?;
            used.extend(rec.answers);
            k
        }
    };
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
