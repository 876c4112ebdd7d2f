//! The persistent probe cache: a hit runs nothing, a changed toolchain misses, and a cached
//! parse of Debian's real Xen tree still gives make's output byte for byte.
mod common;
use std::path::Path;

use common::*;
use xen_config::probe::{HostShell, ShellProbe};
use xen_config::probe_cache::{Cached, ProbeCache};
use xen_config::XenTarget;

/// Counts the commands that reach the host.
struct Counting {
    host: HostShell,
    runs: usize,
}

impl ShellProbe for Counting {
    fn run(&mut self, cmd: &str) -> Result<Vec<u8>, String> {
        self.runs += 1;
        self.host.run(cmd)
    }
}

fn fake_cc(dir: &Path, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let cc = dir.join("fake-cc");
    std::fs::write(&cc, format!("#!/bin/sh\n{body}\n")).expect("write fake cc");
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    cc
}

#[test]
fn a_hit_runs_nothing_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cc = fake_cc(dir.path(), "echo 12.2.0");
    let log = dir.path().join("ran.log");
    let host = HostShell {
        cwd: dir.path().to_path_buf(),
        env: vec![("CC".into(), cc.display().to_string())],
    };
    // The command leaves a trace each time it really runs.
    let cmd = format!("echo ran >> {}; \"$CC\"", log.display());
    let path = dir.path().join("cache/probes.json");
    let mut cache = ProbeCache::open(&path);
    let mut counting = Counting {
        host: host.clone(),
        runs: 0,
    };
    for _ in 0..3 {
        let mut p = Cached {
            cache: &mut cache,
            host: host.clone(),
            inner: &mut counting,
        };
        assert_eq!(p.run(&cmd).expect("probe"), b"12.2.0\n");
    }
    assert_eq!(counting.runs, 1);
    assert_eq!((cache.hits, cache.misses), (2, 1));
    cache.save().expect("save cache");
    // A new process (a reopened cache) still answers without running anything.
    let mut cache = ProbeCache::open(&path);
    assert_eq!(cache.len(), 1);
    let mut p = Cached {
        cache: &mut cache,
        host: host.clone(),
        inner: &mut counting,
    };
    assert_eq!(p.run(&cmd).expect("probe"), b"12.2.0\n");
    assert_eq!(counting.runs, 1);
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "ran\n");

    // A different probe environment is another key.
    let mut other = host.clone();
    other.env.push(("CLANG_FLAGS".into(), "-Werror".into()));
    let mut p = Cached {
        cache: &mut cache,
        host: other,
        inner: &mut counting,
    };
    p.run(&cmd).expect("probe");
    assert_eq!(counting.runs, 2);

    // A changed compiler (upgraded in place: new size and mtime) misses and is re-probed.
    fake_cc(dir.path(), "echo 13.1.0 # upgraded");
    let mut cache = ProbeCache::open(&path);
    let mut p = Cached {
        cache: &mut cache,
        host: host.clone(),
        inner: &mut counting,
    };
    assert_eq!(p.run(&cmd).expect("probe"), b"13.1.0\n");
    assert_eq!(counting.runs, 3);
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "ran\nran\nran\n"
    );
}

#[test]
fn a_program_named_in_the_command_is_part_of_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = fake_cc(dir.path(), "echo one");
    let host = HostShell {
        cwd: dir.path().to_path_buf(),
        env: vec![],
    };
    // Named relative to the working directory, like ./scripts/gcc-version.sh: keyed by content.
    let cmd = "./fake-cc";
    let mut cache = ProbeCache::open(&dir.path().join("c.json"));
    let mut counting = Counting { host, runs: 0 };
    let ask = |cache: &mut ProbeCache, counting: &mut Counting| {
        let host = counting.host.clone();
        Cached {
            cache,
            host,
            inner: counting,
        }
        .run(cmd)
        .expect("probe")
    };
    assert_eq!(ask(&mut cache, &mut counting), b"one\n");
    assert_eq!(ask(&mut cache, &mut counting), b"one\n");
    assert_eq!(counting.runs, 1);
    std::fs::write(&tool, "#!/bin/sh\necho two\n").expect("rewrite");
    // Identities are taken once per run: the next run (a reopened cache) sees the change.
    cache.save().expect("save");
    let mut cache = ProbeCache::open(&dir.path().join("c.json"));
    assert_eq!(ask(&mut cache, &mut counting), b"two\n");
    assert_eq!(counting.runs, 2);
}

#[test]
fn cached_parse_of_the_real_tree_equals_make() {
    let t = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("probes.json");
    let target = XenTarget::default();
    let mut cold = ProbeCache::open(&path);
    let (k1, a1) = xen_config::load_xen_tree_host_cached(&t.xen, &target, Some(&mut cold))
        .expect("cold parse");
    // Cold: every probe misses once and runs (later lookups of the same run may hit).
    assert!(cold.misses >= 10, "{} misses", cold.misses);
    cold.save().expect("save");
    let mut warm = ProbeCache::open(&path);
    let (k2, a2) = xen_config::load_xen_tree_host_cached(&t.xen, &target, Some(&mut warm))
        .expect("warm parse");
    assert_eq!(warm.misses, 0, "every probe answered from the cache");
    assert!(warm.hits >= 10);
    assert_eq!(a1, a2);
    assert_eq!(a1, t.probes, "cached answers are the host's");
    let q = qubes_config();
    for (label, input) in [("empty", None), ("qubes", Some(&q[..]))] {
        for target in ["olddefconfig", "savedefconfig"] {
            let theirs = String::from_utf8(make_in(&t.xen, target, input)).expect("utf-8");
            assert_eq!(ours(&k1, &t.xen, target, input), theirs, "{label} {target}");
            assert_eq!(ours(&k2, &t.xen, target, input), theirs, "{label} {target}");
        }
    }
}

/// A cache that cannot be written costs only speed: the run succeeds and says so in one
/// cargo-like `warning:` line (no timestamp, no module path).
#[test]
fn an_unwritable_cache_is_one_warning_line() {
    let t = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    // A regular file where the cache's folder should be.
    std::fs::write(dir.path().join("blocker"), b"").expect("write");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xen-config"))
        .arg("olddefconfig")
        .arg("--xen-dir")
        .arg(&t.xen)
        .arg("--probe-cache")
        .arg(dir.path().join("blocker/probes.json"))
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run xen-config");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("probe cache")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: cannot save the probe cache ")
            && warnings[0].ends_with("(use --no-probe-cache or --probe-cache FILE)"),
        "{err}"
    );
    // -q: errors only.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xen-config"))
        .args(["-q", "olddefconfig", "--xen-dir"])
        .arg(&t.xen)
        .arg("--probe-cache")
        .arg(dir.path().join("blocker/probes.json"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run xen-config");
    assert!(o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning:"));
}

/// A dry parse (every probe answered `n`) reads the whole real tree, so it learns every probe
/// the real parse asks and all of them start at once. (Answered with nothing, the dry parse
/// stopped at `def_bool $(cc-option,..) || $(cc-option,..)` and the later probes ran one by
/// one in the real parse.)
#[test]
fn a_dry_parse_finds_every_probe_of_the_real_tree() {
    use xen_config::probe::Collector;
    let t = tree();
    let mut dry = Collector::default();
    let env =
        xen_config::xen_env::xen_env(&t.xen, &XenTarget::default(), &mut dry).expect("xen env");
    xen_config::parse(
        xen_config::ParseInput {
            root: &t.xen,
            top: "Kconfig",
            env,
            files: Default::default(),
        },
        &mut dry,
    )
    .expect("the dry parse reads the whole tree");
    let mut asked: Vec<&String> = dry.commands.iter().collect();
    asked.sort();
    let host: Vec<&String> = t.probes.keys().collect();
    assert_eq!(asked, host, "the dry parse asks what the host parse asked");
}
