//! `export guix` output is read and loaded by real Guile 3, and carries the pinned hashes.

mod common;
use common::*;

use package_defs::{load_dir, Body};
use std::process::Command;

#[test]
fn guile_loads_the_exported_module_with_every_pin() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("qubes-xen-kit/sources.scm");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let o = run(&["export", "guix", "-o", out.to_str().unwrap()], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));

    // 1. Plain `read` of every form.
    let reader = format!("(call-with-input-file {:?} (lambda (p) (let loop ((x (read p)) (n 0)) (if (eof-object? x) (begin (display n) (newline)) (loop (read p) (+ n 1))))))", out.to_str().unwrap());
    let g = Command::new("guile")
        .args(["--no-auto-compile", "-c", &reader])
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let forms: usize = String::from_utf8_lossy(&g.stdout).trim().parse().unwrap();
    assert!(forms > 20, "{forms}");

    // 2. Load it as a module against stand-ins of the Guix modules and print every hash.
    let stubs = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guile-stubs");
    let script = "(use-modules (qubes-xen-kit sources))
      (define (show name o)
        (format #t \"~a ~a ~a~%\" name
                (assq-ref (cdr (assq-ref o 'uri)) 'commit)
                (cadr (assq-ref o 'sha256))))
      (show 'xen xen-upstream-origin)
      (show 'qubes-xen-next qubes-xen-next-upstream-origin)
      (show 'qubes-vmm-xen-data qubes-vmm-xen-data-origin)
      (show 'qubes-xen-next-data qubes-xen-next-data-origin)
      (format #t \"series ~a ~a~%\" (length qubes-vmm-xen-data-patches) (car qubes-vmm-xen-data-patches))
      (format #t \"flags ~a~%\" (length xen-configure-flags))
      (format #t \"same ~a~%\" (eq? xen-qubes-data-origin qubes-vmm-xen-data-origin))";
    let g = Command::new("guile")
        .args([
            "--no-auto-compile",
            "-L",
            stubs,
            "-L",
            tmp.path().to_str().unwrap(),
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let text = String::from_utf8_lossy(&g.stdout).into_owned();

    let defs = load_dir(&shipped()).unwrap();
    let mut expected = String::new();
    for name in [
        "xen",
        "qubes-xen-next",
        "qubes-vmm-xen-data",
        "qubes-xen-next-data",
    ] {
        let p = defs.get(name).unwrap();
        let (commit, nar) = match &p.body {
            Body::Xen(x) => (
                x.upstream.commit.as_deref().unwrap(),
                x.upstream.nar_sha256.as_deref().unwrap(),
            ),
            Body::QubesData(d) => (d.source.commit.as_str(), d.source.nar_sha256.as_str()),
        };
        expected += &format!("{name} {commit} {nar}\n");
    }
    let d = defs.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();
    expected += &format!("series {} {}\n", d.patches.len(), d.patches[0].file);
    expected += &format!(
        "flags {}\n",
        defs.get("xen")
            .unwrap()
            .as_xen()
            .unwrap()
            .configure_flags
            .len()
    );
    expected += "same #t\n";
    assert_eq!(text, expected);
}

/// The channel modules committed in `guix/` are what the shipped definitions generate.
#[test]
fn committed_channel_modules_match_the_definitions() {
    let channel = workspace().join(package_defs::export::guix::CHANNEL_DIR);
    let defs = load_dir(&shipped()).unwrap();
    let files = package_defs::export::guix::channel(&defs).unwrap();
    let stale = package_defs::export::guix::stale_files(&channel, &files);
    assert!(
        stale.is_empty(),
        "the committed Guix channel modules are stale: {}\nfix: run `cargo run -p package-defs -- export guix` and commit guix/",
        stale.join(", ")
    );
    // The channel file points Guix at that directory.
    let dot = std::fs::read_to_string(workspace().join(".guix-channel")).unwrap();
    assert!(dot.contains("(directory \"guix\")"), "{dot}");
}

/// `export guix --check` fails on a stale module, naming it and the command that fixes it,
/// and leaves it as it was; `export guix` then rewrites it.
#[test]
fn export_check_names_stale_modules_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let ch = tmp.path().join("guix");
    let chs = ch.to_str().unwrap();
    let o = run(&["export", "guix", "--channel", chs], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["export", "guix", "--channel", chs, "--check"], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));

    let module = ch.join("qubes-xen-kit/packages.scm");
    let edited = std::fs::read_to_string(&module)
        .unwrap()
        .replace("--fuzz=0", "--fuzz=2");
    std::fs::write(&module, &edited).unwrap();
    let o = run(&["export", "guix", "--channel", chs, "--check"], &shipped());
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.starts_with("error: ") && e.contains("packages.scm") && e.contains("export guix"),
        "{e}"
    );
    assert!(!e.contains("sources.scm"), "{e}");
    assert_eq!(std::fs::read_to_string(&module).unwrap(), edited);

    let o = run(&["export", "guix", "--channel", chs], &shipped());
    assert!(
        o.status.success() && stdout(&o).contains("packages.scm"),
        "{}",
        stdout(&o)
    );
    assert!(
        !stdout(&o).contains("sources.scm"),
        "unchanged files are not rewritten"
    );
    let o = run(&["export", "guix", "--channel", chs, "--check"], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));
}
