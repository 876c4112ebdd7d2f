//! `package-defs build` as a user runs it: the shipped definitions, the real repositories
//! served on loopback under their real URLs, a hypervisor-only build. A `python3` that fails
//! first on PATH (as a pyenv shim would be) must not reach the build; a second build of the
//! same inputs comes from the build cache; an existing output is refused and kept.

mod common;
#[path = "common/xen_config.rs"]
mod xen_config;
use common::*;
use xen_config::xen_config;

use std::path::Path;
use std::process::Command;

#[test]
fn hypervisor_build_through_the_cli_with_a_broken_python_first_on_path() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("downloads");
    let builds = tmp.path().join("build-cache");
    // A pyenv-like shim that breaks any build using it.
    let shim = tmp.path().join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(
        shim.join("python3"),
        "#!/bin/sh\necho 'shim python3 used' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::copy(shim.join("python3"), shim.join("python")).unwrap();
    for f in ["python3", "python"] {
        Command::new("chmod")
            .arg("+x")
            .arg(shim.join(f))
            .status()
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tmp.path().join("out/xen-hv");
    let run = |out: &Path| {
        bin()
            .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
            .env("PATH", &path)
            .env("QXK_XEN_CONFIG", xen_config())
            .arg("--definitions")
            .arg(shipped())
            .arg("--cache")
            .arg(&cache)
            .args([
                "build",
                "xen",
                "--mode",
                "hypervisor",
                "--json",
                "--jobs",
                "2",
            ])
            .arg("--build-cache")
            .arg(&builds)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let o = run(&out);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let xen = defs.get("xen").unwrap();
    let data = defs.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();
    assert_eq!(m["version"], xen.version.to_string());
    assert_eq!(m["mode"], "hypervisor");
    assert_eq!(m["environment"]["python"], "/usr/bin/python3");
    assert_eq!(
        m["inputs"]["upstream_commit"].as_str(),
        xen.as_xen().unwrap().upstream.commit.as_deref()
    );
    assert_eq!(
        m["inputs"]["patches"].as_array().unwrap().len(),
        data.patches.len()
    );
    assert_eq!(m["config_matches_olddefconfig"], true);
    // SOURCE_DATE_EPOCH is the signed Qubes tag's date.
    let tag = data.source.tag.as_deref().unwrap();
    let tags = std::fs::read_to_string(fixtures().join("qubes-vmm-xen/tags.tsv")).unwrap();
    let day = tags
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{tag}\t")))
        .and_then(|rest| rest.split('\t').next())
        .unwrap()
        .to_string();
    let date = m["environment"]["xen_build_date"].as_str().unwrap();
    let (y, md) = (&day[..4], &day[5..]);
    assert!(date.ends_with(y), "{date} vs {day}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months[md[..2].parse::<usize>().unwrap() - 1];
    assert!(date.contains(month), "{date} vs {day}");
    // The folder: what the manifest says, and its logs.
    for f in [
        "xen.gz",
        "config",
        "manifest.json",
        "logs/xen.log",
        "logs/patch.log",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let (gz, _) = content_hash::hash_file(&out.join("xen.gz")).unwrap();
    assert_eq!(m["outputs"]["xen.gz"], gz.to_hex());
    assert!(!out.join("install").exists(), "hypervisor only");

    // Again, elsewhere: from the build cache, the same xen.gz.
    let again = tmp.path().join("out/xen-hv-again");
    let o2 = run(&again);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let m2: serde_json::Value = serde_json::from_str(&stdout(&o2)).unwrap();
    assert_eq!(m2["outputs"], m["outputs"]);
    assert_eq!(m2["key"], m["key"]);
    // With the logs of the build that made it, and a note that it came from the cache.
    for f in ["logs/xen.log", "logs/patch.log"] {
        assert_eq!(
            std::fs::read(again.join(f)).unwrap(),
            std::fs::read(out.join(f)).unwrap(),
            "{f}"
        );
    }
    let note = std::fs::read_to_string(again.join("logs/from-cache.txt")).unwrap();
    assert!(note.contains("copied from the build cache"), "{note}");
    assert!(!out.join("logs/from-cache.txt").exists());

    // Another xen-config (here a wrapper around the same one) is another input: built anew,
    // under another key, never the cached output.
    let wrapper = tmp.path().join("other-xen-config");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\"\n", xen_config().display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let third = tmp.path().join("out/xen-hv-other-config");
    let o4 = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .env("QXK_XEN_CONFIG", &wrapper)
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(&cache)
        .args([
            "build",
            "xen",
            "--mode",
            "hypervisor",
            "--json",
            "--jobs",
            "2",
        ])
        .arg("--build-cache")
        .arg(&builds)
        .arg("-o")
        .arg(&third)
        .output()
        .unwrap();
    assert!(o4.status.success(), "{}", stderr(&o4));
    let m4: serde_json::Value = serde_json::from_str(&stdout(&o4)).unwrap();
    assert_ne!(m4["key"], m["key"]);
    assert!(
        !third.join("logs/from-cache.txt").exists(),
        "not from the cache"
    );
    assert_eq!(
        m4["outputs"]["xen.gz"], m["outputs"]["xen.gz"],
        "same xen.gz all the same"
    );

    // An existing output is refused, named, and left alone.
    let o3 = run(&out);
    assert!(!o3.status.success());
    let e = stderr(&o3);
    assert!(
        e.contains(&format!("error: {}: already exists", out.display())) && e.contains("--replace"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(out.join("manifest.json").is_file());
}

/// A step that fails (here xen-config's olddefconfig, a program that exits 1) stops the build
/// with one error naming the step and its log; nothing is left where the output should be,
/// no work folder stays, only `<output>.failed-logs/` with the log the error names.
#[test]
fn a_failed_step_leaves_only_its_logs_beside_the_output() {
    let real = test_servers::RealRepos::serve().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let failing = tmp.path().join("xen-config");
    std::fs::write(
        &failing,
        "#!/bin/sh\necho 'olddefconfig: boom' >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&failing)
        .status()
        .unwrap();
    let parent = tmp.path().join("out");
    let out = parent.join("xen-hv");
    let o = bin()
        .env("PACKAGE_DEFS_URL_REWRITE", real.rewrite_env())
        .env("QXK_XEN_CONFIG", &failing)
        .arg("--definitions")
        .arg(shipped())
        .arg("--cache")
        .arg(tmp.path().join("downloads"))
        .args(["build", "xen", "--mode", "hypervisor", "--no-cache", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let first = e
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(first.contains("build step `olddefconfig` failed"), "{e}");
    let logs = parent.join("xen-hv.failed-logs");
    assert!(
        first.contains(&logs.join("olddefconfig.log").display().to_string()),
        "the error names the kept log: {e}"
    );
    assert!(e.contains("olddefconfig: boom"), "{e}");
    assert!(!out.exists(), "no output");
    assert!(logs.join("patch.log").is_file());
    let mut left: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["xen-hv.failed-logs"], "no work folder left");
}
