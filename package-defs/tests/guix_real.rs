//! The Guix channel checked by real Guix 1.5.0 (Debian's `guix` in a sid chroot): every
//! module loads, the origins carry the definitions' pins, `guix hash -rx` of checkouts of the
//! real repositories equals each pin, every package has a derivation, the build-side phases
//! evaluate and compile without warnings, and `guix lint` reports only explained warnings.

mod common;
#[path = "common/guix.rs"]
mod guix;
use common::*;
use guix::Guix;

use package_defs::{load_dir, Body};
use std::path::Path;
use std::process::Command;

const PACKAGES: [&str; 2] = ["xen-qubes", "xen-qubes-next"];

/// Prints, for every package of the channel, what Guix itself reads from the modules.
const INSPECT: &str = r#"
(use-modules (guix packages) (guix git-download) (guix gexp) (guix base32)
             (srfi srfi-1) (ice-9 match) (qubes-xen-kit packages) (qubes-xen-kit sources))
(define (origin-line o)
  (let ((ref (origin-uri o)))
    (format #f "~a ~a ~a" (git-reference-url ref) (git-reference-commit ref)
            (bytevector->nix-base32-string (content-hash-value (origin-hash o))))))
(define (show p)
  (let ((o (package-source p)))
    (format #t "package ~a ~a ~a~%" (package-name p) (package-version p) (origin-line o))
    (format #t "patch-flags ~a ~a~%" (package-name p) (origin-patch-flags o))
    (format #t "systems ~a ~a~%" (package-name p) (package-supported-systems p))
    (format #t "cpe ~a ~a ~a~%" (package-name p)
            (assq-ref (package-properties p) 'cpe-name)
            (assq-ref (package-properties p) 'cpe-version))
    (for-each (lambda (patch)
                (format #t "patch ~a ~a ~a~%" (package-name p)
                        (origin-line (file-append-base patch))
                        (string-concatenate (file-append-suffix patch))))
              (origin-patches o))))
(for-each show (list xen-qubes xen-qubes-next))
;; The Qubes data are plain origins, not packages.
(for-each (lambda (name o) (format #t "origin ~a ~a~%" name (origin-line o)))
          '("qubes-vmm-xen-data" "qubes-xen-next-data")
          (list qubes-vmm-xen-data-origin qubes-xen-next-data-origin))
"#;

/// Loads the build side of a package's derivation (its builder script) with `gnu-build`
/// replaced by a printer: the phases list and configure flags are evaluated as a build would
/// (a phase inserted after a missing one fails here), then compiled with warnings on (an
/// unbound variable in a phase is reported).
const BUILDER_CHECK: &str = r#"
(use-modules (guix build gnu-build-system) (guix build utils))
(module-set! (resolve-module '(guix build utils)) 'search-input-file
  (lambda (inputs file) (string-append "/inputs/" file)))
(module-set! (resolve-module '(guix build gnu-build-system)) 'gnu-build
  (lambda* (#:key phases configure-flags make-flags #:allow-other-keys)
    (for-each (lambda (f) (format #t "flag ~a~%" f)) configure-flags)
    (for-each (lambda (f) (format #t "make-flag ~a~%" f)) make-flags)
    (for-each (lambda (p) (format #t "phase ~a~%" (car p))) phases)))
(define builder (cadr (command-line)))
(load builder)
(compile-file builder #:output-file (caddr (command-line))
              #:opts '(#:warnings (unbound-variable arity-mismatch format)))
"#;

/// Lint warnings this channel keeps, each explained in the README's Guix section.
const EXPLAINED: [&str; 1] = ["file names of patches should start with the package name"];

/// Everything the real Guix says about a channel directory, by section.
struct Report {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Report {
    fn section(&self, name: &str) -> Vec<&str> {
        let mut on = false;
        let mut out = Vec::new();
        for l in self.stdout.lines() {
            if let Some(s) = l.strip_prefix("== ") {
                on = s == name;
            } else if on {
                out.push(l);
            }
        }
        out
    }
}

fn check_channel(g: &Guix, channel: &str) -> Report {
    std::fs::write(g.host("inspect.scm"), INSPECT).unwrap();
    std::fs::write(g.host("builder-check.scm"), BUILDER_CHECK).unwrap();
    let script = format!(
        r#"set -uo pipefail
ch={channel}
fail=0
echo "== inspect"
guix repl -L "$ch" -- {inspect} || fail=1
echo "== derivations"
guix build -d --no-grafts -L "$ch" {pkgs} || fail=1
builder_of() {{
  guile -c "(use-modules (guix derivations) (srfi srfi-1)) (display (last (derivation-builder-arguments (read-derivation-from-file \"$1\"))))"
}}
for p in xen xen-qubes xen-qubes-next; do
  echo "== builder $p"
  drv=$(guix build -d --no-grafts -L "$ch" $p) || {{ fail=1; continue; }}
  builder=$(builder_of "$drv")
  out=/outputs/out guile --no-auto-compile -s {check} "$builder" {go} 2>&1 || {{ echo "builder-failed"; fail=1; }}
  # The linker xen.efi is linked with: a binutils built with the PE emulation.
  pe=$(grep -o '/gnu/store/[a-z0-9]*-binutils-pe-[0-9.]*\.drv' "$drv" | head -n 1)
  if [ -n "$pe" ]; then
    echo "binutils-pe $pe"
    grep -o -- '--enable-targets=[a-z0-9_,-]*' "$(builder_of "$pe")" | sed 's/^/binutils-pe-flag /'
  fi
done
echo "== lint"
guix lint -n -L "$ch" {pkgs} 2>&1
echo "== lint-guix-xen"
guix lint -n xen 2>&1
exit $fail
"#,
        inspect = g.inside("inspect.scm"),
        check = g.inside("builder-check.scm"),
        go = g.inside("builder.go"),
        pkgs = PACKAGES.join(" "),
    );
    let o = g.run(&script);
    Report {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Problems in a report: a failure, a compile warning, or an unexplained lint warning.
fn problems(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if !r.ok {
        out.push(format!(
            "a Guix command failed:\n{}\n{}",
            r.stdout, r.stderr
        ));
    }
    for p in PACKAGES {
        for l in r.section(&format!("builder {p}")) {
            if l.contains("warning") || l.contains("builder-failed") || l.contains("ERROR") {
                out.push(format!("{p} build side: {l}"));
            }
        }
    }
    // Lint: warnings Guix's own `xen` also gets are inherited; the rest must be explained.
    let message = |l: &str| {
        l.split_once("@")
            .and_then(|(_, m)| m.split_once(": ").map(|(_, m)| m.to_string()))
    };
    let inherited: Vec<String> = r
        .section("lint-guix-xen")
        .into_iter()
        .filter_map(message)
        .collect();
    for l in r.section("lint") {
        let Some(m) = message(l) else { continue };
        if !inherited.contains(&m) && !EXPLAINED.iter().any(|e| m.contains(e)) {
            out.push(format!("unexplained lint warning: {l}"));
        }
    }
    out
}

fn exported_channel(g: &Guix, rel: &str) -> String {
    let dir = g.host(rel);
    let o = run(
        &["export", "guix", "--channel", dir.to_str().unwrap()],
        &shipped(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    g.inside(rel)
}

#[test]
fn real_guix_loads_derives_and_lints_every_package_with_the_pins() {
    let Some(g) = Guix::get() else { return };
    let ch = exported_channel(&g, "channel");
    let r = check_channel(&g, &ch);
    let problems = problems(&r);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // What Guix reads from the modules equals the definitions.
    let defs = load_dir(&shipped()).unwrap();
    let inspect = r.section("inspect");
    for p in &defs.packages {
        let name = package_defs::export::guix::package_name(&p.name);
        let (url, commit, nar) = match &p.body {
            Body::Xen(x) => (
                x.upstream.git.clone(),
                x.upstream.commit.clone().unwrap(),
                x.upstream.nar_sha256.clone().unwrap(),
            ),
            Body::QubesData(d) => (
                d.source.repo.clone(),
                d.source.commit.clone(),
                d.source.nar_sha256.clone(),
            ),
        };
        let line = match p.body {
            Body::Xen(_) => format!("package {name} {} {url} {commit} {nar}", p.version),
            Body::QubesData(_) => format!("origin {} {url} {commit} {nar}", p.name),
        };
        assert!(
            inspect.contains(&line.as_str()),
            "missing {line:?} in\n{}",
            inspect.join("\n")
        );
        if let Body::Xen(x) = &p.body {
            let data = defs.get(&x.data).unwrap();
            let d = data.as_data().unwrap();
            let want: Vec<String> = d
                .patches
                .iter()
                .map(|pp| {
                    format!(
                        "patch {name} {} {} {} /{}",
                        d.source.repo, d.source.commit, d.source.nar_sha256, pp.file
                    )
                })
                .collect();
            let got: Vec<&str> = inspect
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("patch {name} ")))
                .collect();
            assert_eq!(
                got, want,
                "{name}: origin patches are not the data's series in order"
            );
            for l in [
                format!("patch-flags {name} (-p1 --fuzz=0)"),
                format!("systems {name} (x86_64-linux)"),
                // `guix lint -c cve` looks Xen's CVEs up under this name and version.
                format!("cpe {name} xen {}", p.version.xen),
            ] {
                assert!(inspect.contains(&l.as_str()), "{l:?} in {inspect:?}");
            }
        }
    }
    let drvs = r.section("derivations");
    assert_eq!(drvs.len(), PACKAGES.len(), "{drvs:?}");
    for (d, p) in drvs.iter().zip(PACKAGES) {
        assert!(
            d.starts_with("/gnu/store/") && d.contains(p) && d.ends_with(".drv"),
            "{d}"
        );
    }

    // Guix's own `xen`: its configure options are the ones the generator leaves to Guix.
    let option = |f: &str| f.split('=').next().unwrap_or(f).to_string();
    let guix_flags: Vec<String> = r
        .section("builder xen")
        .iter()
        .filter_map(|l| l.strip_prefix("flag "))
        .map(option)
        .collect();
    let mut known: Vec<String> = package_defs::export::guix::GUIX_XEN_OPTIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut seen = guix_flags.clone();
    known.sort();
    seen.sort();
    assert_eq!(seen, known, "Guix's xen configure options changed");

    // Build side: Guix's configure flags, then the definition's that Guix does not set (its
    // qemu path over a bare --with-system-qemu, its seabios over Qubes' --disable-seabios),
    // merged when the module was generated; the Qubes phases in place; xen.efi linked by a
    // binutils with the PE emulation.
    for (p, def) in [("xen-qubes", "xen"), ("xen-qubes-next", "qubes-xen-next")] {
        let b = r.section(&format!("builder {p}"));
        let has = |l: &str| b.contains(&l);
        let flags: Vec<&str> = b.iter().filter_map(|l| l.strip_prefix("flag ")).collect();
        let x = defs.get(def).unwrap().as_xen().unwrap();
        let added = package_defs::export::guix::added_configure_flags(&x.configure_flags);
        assert_eq!(
            flags[guix_flags.len()..],
            added.iter().map(String::as_str).collect::<Vec<_>>(),
            "{p}: {b:?}"
        );
        let mut options: Vec<String> = flags.iter().map(|f| option(f)).collect();
        options.sort();
        let n = options.len();
        options.dedup();
        assert_eq!(options.len(), n, "{p}: an option set twice: {flags:?}");
        assert!(
            has("flag --with-system-qemu=/inputs/bin/qemu-system-i386"),
            "{p}: {b:?}"
        );
        for f in ["--disable-docs", "--disable-ipxe", "--disable-ocamltools"] {
            assert!(has(&format!("flag {f}")), "{p} {f}: {b:?}");
        }
        assert!(
            b.iter().any(|l| l.starts_with("make-flag LD=/gnu/store/")
                && l.contains("-binutils-pe-")
                && l.ends_with("/bin/ld")),
            "{p}: {b:?}"
        );
        assert!(
            has("binutils-pe-flag --enable-targets=x86_64-pep"),
            "{p}: {b:?}"
        );
        let phases: Vec<&str> = b.iter().filter_map(|l| l.strip_prefix("phase ")).collect();
        let at = |ph: &str| {
            phases
                .iter()
                .position(|x| *x == ph)
                .unwrap_or_else(|| panic!("{p}: no phase {ph} in {phases:?}"))
        };
        assert!(at("set-environment-up") < at("set-qubes-efi-vendor"));
        assert!(
            at("configure") < at("install-qubes-config")
                && at("install-qubes-config") < at("check-qubes-config-kept")
                && at("check-qubes-config-kept") < at("build")
        );
        assert!(at("check-qubes-config-kept") < at("make-efi-vendor-directories"));
        assert!(at("make-efi-vendor-directories") < at("build"));
        // Xen 4.17 keeps tools/xenstore/: Guix's `patch' phase gets an alias around it.
        assert_eq!(
            phases.contains(&"alias-xenstored-directory"),
            p == "xen-qubes",
            "{p}: {phases:?}"
        );
    }

    // Guix's own lint warnings for its `xen` are inherited; ours are explained in the README.
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for e in EXPLAINED {
        assert!(
            readme.contains(e),
            "README does not explain the lint warning {e:?}"
        );
    }
}

#[test]
fn a_typo_in_a_phase_fails_the_real_guix_check() {
    let Some(g) = Guix::get() else { return };
    exported_channel(&g, "good");
    let modules = g.host("good/qubes-xen-kit/packages.scm");
    let text = std::fs::read_to_string(&modules).unwrap();
    for (n, (what, from, to, expect)) in [
        (
            "a misspelt procedure",
            "(setenv \"EFI_VENDOR\" \"qubes\")",
            "(setnev \"EFI_VENDOR\" \"qubes\")",
            "build side: ",
        ),
        (
            "a misspelt phase name",
            "(add-after 'set-environment-up",
            "(add-after 'set-enviroment-up",
            "build side: builder-failed",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            text.contains(from),
            "{what}: the module no longer contains {from:?}"
        );
        let rel = format!("broken-{n}");
        let status = Command::new("cp")
            .arg("-a")
            .arg(g.host("good"))
            .arg(g.host(&rel))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::write(
            g.host(&rel).join("qubes-xen-kit/packages.scm"),
            text.replacen(from, to, 1),
        )
        .unwrap();
        let r = check_channel(&g, &g.inside(&rel));
        let problems = problems(&r).join("\n");
        let word = if n == 0 { "setnev" } else { "builder-failed" };
        assert!(
            problems
                .lines()
                .any(|l| l.contains(expect) && l.contains(word)),
            "{what} went unnoticed:\n{problems}\n{}",
            r.stdout
        );
    }
}

#[test]
fn guix_hash_of_real_checkouts_equals_every_pin() {
    let Some(g) = Guix::get() else { return };
    let real = test_servers::RealRepos::serve().unwrap();
    let defs = load_dir(&shipped()).unwrap();
    // Fetched as Guix's git-fetch does: the pinned ref of the real URL (served on loopback).
    let git = |dir: &Path, args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C").arg(dir);
        for (from, to) in real.rewrites() {
            c.arg("-c").arg(format!("url.{to}.insteadOf={from}"));
        }
        let o = c.args(args).output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let mut checks = String::from("set -euo pipefail\n");
    let mut want = Vec::new();
    for p in &defs.packages {
        let (url, tag, commit, nar) = match &p.body {
            Body::Xen(x) => (
                &x.upstream.git,
                Some(x.upstream.tag.clone()),
                x.upstream.commit.clone().unwrap(),
                x.upstream.nar_sha256.clone().unwrap(),
            ),
            Body::QubesData(d) => (
                &d.source.repo,
                d.source.tag.clone(),
                d.source.commit.clone(),
                d.source.nar_sha256.clone(),
            ),
        };
        let rel = format!("checkout-{}", p.name);
        let dir = g.host(&rel);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q"]);
        match &tag {
            // A shallow server sends a tag only to a shallow fetch.
            Some(t) => git(&dir, &["fetch", "-q", "--depth", "1", url, "tag", t]),
            None => git(&dir, &["fetch", "-q", "--depth", "1", url, &commit]),
        }
        git(
            &dir,
            &["-c", "advice.detachedHead=false", "checkout", "-q", &commit],
        );
        checks += &format!("echo \"{} $(guix hash -rx {})\"\n", p.name, g.inside(&rel));
        want.push(format!("{} {nar}", p.name));
    }
    let o = g.run(&checks);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(
        got, want,
        "guix hash -rx of the real checkouts differs from the pins"
    );
}
