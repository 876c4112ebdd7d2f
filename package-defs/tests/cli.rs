//! The command line as a user meets it: where the definitions come from, usage errors,
//! exit codes, the error format under RUST_BACKTRACE=1, log lines, man page and completions.
mod common;
use common::*;

#[test]
fn definitions_come_from_the_command_line_or_the_current_folder_only() {
    // Not from the machine the binary was built on: outside a checkout it says what to do.
    let empty = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("list")
        .current_dir(empty.path())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: no definitions folder: ")
            && err.contains("/definitions does not exist")
            && err.contains("--definitions DIR (or set PACKAGE_DEFS_DIR)"),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    // ./definitions of the current folder.
    let (tmp, _dir) = shipped_copy();
    let o = bin().arg("list").current_dir(tmp.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("xen "), "{}", stdout(&o));
    // PACKAGE_DEFS_DIR.
    let o = bin()
        .arg("list")
        .current_dir(empty.path())
        .env("PACKAGE_DEFS_DIR", tmp.path().join("definitions"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn enums_and_dates_are_checked_by_clap_with_exit_2() {
    let (_tmp, dir) = shipped_copy();
    for (args, says) in [
        (
            &["bot", "--dry-run", "--landing-day", "caturday"][..],
            "possible values: monday, tuesday",
        ),
        (
            &["bot", "--dry-run", "--forge", "gitlab"][..],
            "possible values: git, github",
        ),
        (
            &["bot", "--dry-run", "--today", "13/06/2026"][..],
            "expected a date YYYY-MM-DD",
        ),
        (&["reconcile", "xen", "--arch", "sparc"][..], "x86_64"),
    ] {
        let o = run(args, &dir);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn unknown_package_is_a_usage_error_with_the_known_ones() {
    let (_tmp, dir) = shipped_copy();
    let o = bin()
        .env("RUST_BACKTRACE", "full")
        .arg("--definitions")
        .arg(&dir)
        .args(["show", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: unknown package 'nope'; known: qubes-vmm-xen-data, qubes-xen-next, qubes-xen-next-data, xen\n"
    );
}

#[test]
fn every_command_that_takes_a_package_refuses_a_wrong_name_alike() {
    // One lookup, one message, one exit code (2), and refused before any fetch or build:
    // no network is configured here, and no output folder appears.
    let (tmp, dir) = shipped_copy();
    let unknown = "error: unknown package 'nope'; known: qubes-vmm-xen-data, qubes-xen-next, qubes-xen-next-data, xen\n";
    let data = "error: 'qubes-vmm-xen-data' is a qubes-data package; name the xen package that uses it (xen)\n";
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    let vendor = tmp.path().join("vendor");
    let vendor = vendor.to_str().unwrap();
    for command in [
        &["build", "-o", out][..],
        &["bundle", "-o", out, "--xs", "/bin/true"][..],
        &["update"][..],
        &["prepare", "--vendor", vendor][..],
        &["reconcile", "--vendor", vendor][..],
        &["show"][..],
        &["show", "--vm-series"][..],
    ] {
        for (name, says) in [("nope", unknown), ("qubes-vmm-xen-data", data)] {
            if command[0] == "show" && name != "nope" {
                continue; // a data package is shown, and has a VM series
            }
            let mut args = vec![command[0], name];
            args.extend_from_slice(&command[1..]);
            let o = run(&args, &dir);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            assert_eq!(stderr(&o), says, "{args:?}");
        }
    }
    assert!(!tmp.path().join("out").exists() && !tmp.path().join("vendor").exists());
}

#[test]
fn man_page_and_completions_come_from_the_clap_definition() {
    let o = bin().args(["--generate", "man"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let man = stdout(&o);
    assert!(
        man.contains(".TH package-defs") && man.contains("reconcile"),
        "{man}"
    );
    for (kind, marker) in [
        ("complete-bash", "_package__defs()"),
        ("complete-zsh", "#compdef package-defs"),
        ("complete-fish", "complete -c package-defs"),
    ] {
        let o = bin().arg(format!("--generate={kind}")).output().unwrap();
        let text = stdout(&o);
        assert!(
            o.status.success() && text.contains(marker),
            "{kind}: {text}"
        );
        // Subcommands and their ValueEnum values are completed.
        assert!(
            text.contains("landing-day") && text.contains("saturday"),
            "{kind}"
        );
    }
}

#[test]
fn json_output_has_the_documented_keys() {
    let (_tmp, dir) = shipped_copy();
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["list", "--json"], &dir))).expect("list --json");
    for row in list.as_array().expect("array") {
        assert_eq!(keys_of(row), documented_keys("`list --json`", ""));
    }
    for (package, variant) in [("xen", " (xen)"), ("qubes-vmm-xen-data", " (qubes-data)")] {
        let show: serde_json::Value =
            serde_json::from_str(&stdout(&run(&["show", package, "--json"], &dir)))
                .expect("show --json");
        assert_eq!(
            keys_of(&show),
            documented_keys("`show PACKAGE --json`", variant),
            "{package}"
        );
    }
}
