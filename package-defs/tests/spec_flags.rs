//! The README's table of where the builds differ from Qubes' spec is exact: the options the
//! real `xen.spec.in` at each pinned commit passes to `./configure` (its x86_64 defaults,
//! `$CONFIG_EXTRA` expanded) are exactly those its first column shows, the options the spec
//! assigns only after `./configure` ran are named as unused, and every definition flag and
//! every flag the Guix packages add is in its column. And what the README says of autoreconf:
//! the spec runs it after `./configure`, and no Makefile of the pinned Xen trees reruns
//! `configure` or `config.status`.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const HEADING: &str = "### Where the builds differ from Qubes' spec";

/// A bare fixture repository unpacked into `tmp`.
fn unpack(tar: &str, tmp: &Path) -> std::path::PathBuf {
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(fixtures().join("git").join(tar))
        .arg("-C")
        .arg(tmp)
        .status()
        .unwrap();
    assert!(ok.success());
    tmp.join(tar.trim_end_matches(".tar"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Words of a shell line, double-quoted parts kept with their quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The options of a `CONFIG_EXTRA="..."` assignment.
fn extra_options(line: &str) -> Vec<String> {
    let body = line
        .trim()
        .strip_prefix("CONFIG_EXTRA=\"")
        .and_then(|b| b.strip_suffix('"'))
        .unwrap_or("");
    words(body)
        .into_iter()
        .filter(|w| w.starts_with("--"))
        .collect()
}

/// What the spec's `%build` passes to `./configure` on x86_64 with its defaults (both branches
/// of a condition on the build host's files), and what it assigns to `$CONFIG_EXTRA` after.
fn spec_configure(spec: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let build = spec
        .split("\n%build\n")
        .nth(1)
        .unwrap()
        .split("\n%install\n")
        .next()
        .unwrap();
    // `%if` stack: Some(false) drops the lines under it; None (a host check) keeps both.
    let mut stack: Vec<Option<bool>> = Vec::new();
    let (mut passed, mut later) = (BTreeSet::new(), BTreeSet::new());
    let mut configured = false;
    for line in build.lines() {
        let t = line.trim();
        if let Some(cond) = t.strip_prefix("%if ") {
            stack.push(match cond.trim() {
                "%build_qemutrad" => Some(false),
                "%build_ovmf" => Some(true),
                c if c.starts_with("%(test -f") => None,
                _ => Some(true),
            });
            continue;
        }
        if let Some(arches) = t.strip_prefix("%ifnarch ") {
            stack.push(Some(!arches.split_whitespace().any(|a| a == "x86_64")));
            continue;
        }
        if let Some(arches) = t.strip_prefix("%ifarch ") {
            stack.push(Some(arches.split_whitespace().any(|a| a == "x86_64")));
            continue;
        }
        if t == "%else" {
            if let Some(top) = stack.last_mut() {
                *top = top.map(|b| !b);
            }
            continue;
        }
        if t == "%endif" {
            stack.pop();
            continue;
        }
        if stack.contains(&Some(false)) || t.starts_with('#') {
            continue;
        }
        if t.starts_with("./configure ") {
            configured = true;
            passed.extend(words(t).into_iter().filter(|w| w.starts_with("--")));
        } else if t.starts_with("CONFIG_EXTRA=") {
            let opts = extra_options(t);
            if configured {
                later.extend(opts);
            } else {
                passed.extend(opts);
            }
        }
    }
    assert!(configured, "no ./configure line in the spec's %build");
    (passed, later)
}

/// The table's rows under HEADING, as cells.
fn table_rows(readme: &str) -> Vec<Vec<String>> {
    let section = readme.split(HEADING).nth(1).expect("README section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
        .skip(1)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `--options` written in backticks in a cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("--"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_table_shows_exactly_the_flags_of_qubes_spec_and_of_both_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let qubes = unpack("qubes-vmm-xen.git.tar", tmp.path());
    let defs = package_defs::load_dir(&shipped()).unwrap();
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let rows = table_rows(&readme);
    assert!(rows.iter().all(|r| r.len() == 4), "{rows:?}");
    let column =
        |i: usize| -> BTreeSet<String> { rows.iter().flat_map(|r| ticked(&r[i])).collect() };

    let (mut passed, mut later) = (BTreeSet::new(), BTreeSet::new());
    for def in ["xen", "qubes-xen-next"] {
        let x = defs.get(def).unwrap().as_xen().unwrap();
        let d = defs.get(&x.data).unwrap().as_data().unwrap();
        let spec = git(
            &qubes,
            &["show", &format!("{}:xen.spec.in", d.source.commit)],
        );
        let (p, l) = spec_configure(&spec);
        assert!(
            p.contains("--enable-systemd")
                && p.iter().any(|f| f.starts_with("--with-system-ovmf=")),
            "{def}: {p:?}"
        );
        passed.extend(p);
        later.extend(l);
        // Every flag of the definition, and every flag the Guix package adds, is in its column.
        for f in &x.configure_flags {
            assert!(
                column(1).contains(f),
                "{def}: {f} not in the package-defs build column"
            );
        }
        for f in package_defs::export::guix::added_configure_flags(&x.configure_flags) {
            assert!(column(2).contains(&f), "{def}: {f} not in the Guix column");
        }
    }
    assert_eq!(
        column(0),
        passed,
        "the README's first column is not what Qubes' spec passes to ./configure"
    );
    let prose = readme.split(HEADING).nth(1).unwrap();
    for f in &later {
        assert!(
            prose.contains(&format!("`{f}")) || prose.contains(&format!(" {f}")),
            "{f}: assigned after ./configure, not named as unused"
        );
    }
    assert!(later.contains("--disable-pvshim"), "{later:?}");
}

#[test]
fn qubes_autoreconf_runs_after_configure_and_no_makefile_reruns_configure() {
    let tmp = tempfile::tempdir().unwrap();
    let qubes = unpack("qubes-vmm-xen.git.tar", tmp.path());
    let xen = unpack("xen.git.tar", tmp.path());
    let defs = package_defs::load_dir(&shipped()).unwrap();
    for def in ["xen", "qubes-xen-next"] {
        let x = defs.get(def).unwrap().as_xen().unwrap();
        let d = defs.get(&x.data).unwrap().as_data().unwrap();
        let spec = git(
            &qubes,
            &["show", &format!("{}:xen.spec.in", d.source.commit)],
        );
        let lines: Vec<&str> = spec.lines().map(str::trim).collect();
        let at = |p: &str| lines.iter().position(|l| l.starts_with(p));
        let configure = at("./configure ").expect("./configure");
        let autoreconf = at("autoreconf -i").expect("autoreconf -i");
        assert!(configure < autoreconf, "{def}: autoreconf before configure");
        assert!(
            !lines[autoreconf..]
                .iter()
                .any(|l| l.contains("./configure") || l.contains("config.status")),
            "{def}: the spec configures again after autoreconf"
        );
        // The pinned tree's Makefiles: no recipe runs Xen's configure or config.status
        // (stubdom/, which configures the third-party sources it builds, is not built: the
        // spec's build_stubdom is 0 and both builds pass --disable-stubdom).
        let commit = x.upstream.commit.as_deref().unwrap();
        let files = git(&xen, &["ls-tree", "-r", "--name-only", commit]);
        let mut makefiles = 0;
        for f in files.lines().filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            !f.starts_with("stubdom/") && (name == "Makefile" || name.ends_with(".mk"))
        }) {
            makefiles += 1;
            let text = git(&xen, &["show", &format!("{commit}:{f}")]);
            for l in text.lines() {
                let runs = l.contains("config.status")
                    || words(l).iter().any(|w| {
                        ["./configure", "../configure", "$(XEN_ROOT)/configure"]
                            .iter()
                            .any(|c| w == c || w.ends_with("/tools/configure"))
                    });
                let harmless = l.trim_start().starts_with("rm ") || l.contains("$(error");
                assert!(!runs || harmless, "{def}: {f} reruns configure: {l}");
            }
        }
        assert!(makefiles > 100, "{def}: {makefiles} makefiles");
    }
}
