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
