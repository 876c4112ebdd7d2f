//! Our olddefconfig/savedefconfig against `make -C xen olddefconfig/savedefconfig` in
//! Debian's real Xen 4.17 tree, byte for byte.
mod common;
use common::*;

fn replace_line(cfg: &str, prefix: &str, new: &str) -> String {
    let mut found = false;
    let out: Vec<String> = cfg
        .lines()
        .map(|l| {
            if l.starts_with(prefix) {
                found = true;
                new.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "fixture has no line starting with {prefix}");
    out.join("\n") + "\n"
}

#[test]
fn no_config_uses_defconfig_list() {
    let t = tree();
    assert_same_as_make(&t, "no .config", None);
}

#[test]
fn empty_config_file() {
    let t = tree();
    assert_same_as_make(&t, "empty .config", Some(b""));
}

#[test]
fn qubes_config_as_shipped() {
    let t = tree();
    assert_same_as_make(&t, "Qubes config", Some(&qubes_config()));
}

#[test]
fn qubes_config_with_flipped_symbols() {
    let t = tree();
    let q = String::from_utf8(qubes_config()).expect("utf-8");
    // Flip a bool both ways, turn off a menu's guard (EXPERT hides prompts), change a choice.
    let mut c = replace_line(&q, "# CONFIG_SHADOW_PAGING", "CONFIG_SHADOW_PAGING=y");
    c = replace_line(&c, "CONFIG_HVM=y", "# CONFIG_HVM is not set");
    c = replace_line(
        &c,
        "CONFIG_SCHED_CREDIT2_DEFAULT=y",
        "# CONFIG_SCHED_CREDIT2_DEFAULT is not set",
    );
    c = replace_line(
        &c,
        "# CONFIG_SCHED_RTDS_DEFAULT",
        "CONFIG_SCHED_RTDS_DEFAULT=y",
    );
    assert_same_as_make(&t, "flipped", Some(c.as_bytes()));
    let no_expert = replace_line(&q, "CONFIG_EXPERT=y", "# CONFIG_EXPERT is not set");
    assert_same_as_make(&t, "EXPERT off", Some(no_expert.as_bytes()));
    let xsm = replace_line(
        &q,
        "# CONFIG_XSM is not set",
        "CONFIG_XSM=y\nCONFIG_XSM_SILO=y",
    );
    assert_same_as_make(&t, "XSM on", Some(xsm.as_bytes()));
}

#[test]
fn out_of_range_and_invalid_values() {
    let t = tree();
    let q = String::from_utf8(qubes_config()).expect("utf-8");
    for (label, line) in [
        ("NR_CPUS too big", "CONFIG_NR_CPUS=5000"),
        ("NR_CPUS zero", "CONFIG_NR_CPUS=0"),
        ("NR_CPUS not a number", "CONFIG_NR_CPUS=lots"),
        ("NR_CPUS leading zero", "CONFIG_NR_CPUS=0256"),
        ("NR_CPUS negative", "CONFIG_NR_CPUS=-4"),
    ] {
        let c = replace_line(&q, "CONFIG_NR_CPUS=", line);
        assert_same_as_make(&t, label, Some(c.as_bytes()));
    }
    let c = replace_line(
        &q,
        "CONFIG_SERIAL_TX_BUFSIZE=",
        "CONFIG_SERIAL_TX_BUFSIZE=100",
    );
    assert_same_as_make(&t, "small tx buf", Some(c.as_bytes()));
    let c = replace_line(&q, "CONFIG_PV=y", "CONFIG_PV=maybe");
    assert_same_as_make(&t, "bool garbage", Some(c.as_bytes()));
    let c = replace_line(
        &q,
        "CONFIG_CMDLINE=",
        "CONFIG_CMDLINE=\"quote \\\" and \\\\ backslash\"",
    );
    assert_same_as_make(&t, "escaped string", Some(c.as_bytes()));
    let c = replace_line(&q, "CONFIG_CMDLINE=", "CONFIG_CMDLINE=\"unterminated");
    assert_same_as_make(&t, "unterminated string", Some(c.as_bytes()));
    let c = replace_line(&q, "CONFIG_CMDLINE=", "CONFIG_CMDLINE=unquoted");
    assert_same_as_make(&t, "unquoted string", Some(c.as_bytes()));
}

#[test]
fn unknown_symbols_and_repeated_lines() {
    let t = tree();
    let q = String::from_utf8(qubes_config()).expect("utf-8");
    let c = format!(
        "{q}CONFIG_NOT_A_XEN_SYMBOL=y\n# CONFIG_ALSO_UNKNOWN is not set\nCONFIG_HVM=n\nCONFIG_NR_CPUS=64\nCONFIG_NR_CPUS=128\ngarbage line\n\r\nCONFIG_DEBUG=y\r\n"
    );
    assert_same_as_make(&t, "unknown + repeated", Some(c.as_bytes()));
    // Symbols the tree has but that are not visible here (Arm only, dependency unmet).
    let c = format!(
        "{q}CONFIG_ARM=y\nCONFIG_ACPI_NUMA=n\nCONFIG_XSM_FLASK=y\nCONFIG_DEFCONFIG_LIST=\"x\"\n"
    );
    assert_same_as_make(&t, "invisible symbols", Some(c.as_bytes()));
}

#[test]
fn only_a_few_lines() {
    let t = tree();
    assert_same_as_make(&t, "debug only", Some(b"CONFIG_DEBUG=y\n"));
    assert_same_as_make(
        &t,
        "expert pv32 off",
        Some(b"CONFIG_EXPERT=y\n# CONFIG_PV32 is not set\nCONFIG_SCHED_NULL_DEFAULT=y\n"),
    );
}

/// kconfiglib (PyPI), an independent implementation, agrees with us (and so with conf).
#[test]
fn kconfiglib_agrees() {
    let t = tree();
    let script = workspace().join("xen-config/scripts/kconfiglib-olddefconfig.py");
    let q = String::from_utf8(qubes_config()).expect("utf-8");
    let flipped = replace_line(&q, "CONFIG_EXPERT=y", "# CONFIG_EXPERT is not set");
    for (label, cfg) in [
        ("Qubes", q.as_str()),
        ("EXPERT off", flipped.as_str()),
        ("empty", ""),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let inp = dir.path().join("in.config");
        let out = dir.path().join("out.config");
        std::fs::write(&inp, cfg).expect("write");
        let o = std::process::Command::new("python3")
            .arg(&script)
            .arg(&inp)
            .arg(&out)
            .current_dir(&t.xen)
            .envs(&t.env)
            .output()
            .expect("run python3");
        assert!(
            o.status.success(),
            "kconfiglib failed (install it with scripts/setup-debian.sh): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = std::fs::read_to_string(&out).expect("kconfiglib output");
        let mine = ours(&t.kconfig, &t.xen, "olddefconfig", Some(cfg.as_bytes()));
        assert_eq!(theirs, mine, "{label}: kconfiglib and xen-config differ");
    }
}

/// The binary, probing the host itself (concurrently), writes what make writes; its recorded
/// probe answers replay to the same output; by default it keeps a probe cache under
/// $XDG_CACHE_HOME, and `--no-probe-cache` neither reads nor writes it.
#[test]
fn binary_matches_make_with_live_and_recorded_probes() {
    let t = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    let q = dir.path().join("qubes.config");
    std::fs::write(&q, qubes_config()).expect("write");
    let probes = dir.path().join("probes.json");
    let xdg = dir.path().join("xdg-cache");
    let cache_file = xdg.join("qubes-xen-kit/kconfig-probes.json");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_xen-config"))
            .args(args)
            .env("XDG_CACHE_HOME", &xdg)
            .output()
            .expect("run xen-config");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf-8")
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let live = run(&[
        &os("olddefconfig"),
        &os("--xen-dir"),
        t.xen.as_os_str(),
        &os("--config"),
        q.as_os_str(),
        &os("--record-probes"),
        probes.as_os_str(),
        &os("--no-probe-cache"),
    ]);
    assert!(!cache_file.exists(), "--no-probe-cache wrote a cache");
    let make =
        String::from_utf8(make_in(&t.xen, "olddefconfig", Some(&qubes_config()))).expect("utf-8");
    assert_eq!(live, make);
    let replayed = run(&[
        &os("olddefconfig"),
        &os("--xen-dir"),
        t.xen.as_os_str(),
        &os("--config"),
        q.as_os_str(),
        &os("--probes"),
        probes.as_os_str(),
    ]);
    assert_eq!(replayed, make);
    let save = run(&[
        &os("savedefconfig"),
        &os("--xen-dir"),
        t.xen.as_os_str(),
        &os("--config"),
        q.as_os_str(),
    ]);
    let make_save =
        String::from_utf8(make_in(&t.xen, "savedefconfig", Some(&qubes_config()))).expect("utf-8");
    assert_eq!(save, make_save);
    // That run filled the default cache; the next one answers from it, same output.
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache_file).expect("default probe cache written"))
            .expect("cache is JSON");
    assert!(cached["answers"].as_object().is_some_and(|a| a.len() >= 10));
    let again = run(&[
        &os("olddefconfig"),
        &os("--xen-dir"),
        t.xen.as_os_str(),
        &os("--config"),
        q.as_os_str(),
    ]);
    assert_eq!(again, make);
}
