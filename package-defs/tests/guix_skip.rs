//! `scripts/guix-chroot.sh` decides "Debian no longer serves guix" from unstable's package
//! index before it debootstraps anything, exits 3 with a `skip:` line naming the index (what
//! the real-Guix tests turn into a loud skip), and never mistakes a broken mirror for it.

mod common;
use common::workspace;

use std::process::{Command, Output};
use test_servers::archive::xz;
use test_servers::HttpServer;

/// Two stanzas of an unstable index: neither is guix (`guix-foo` must not count either).
const WITHOUT_GUIX: &str =
    "Package: guile-3.0\nVersion: 3.0.10+really3.0.10-4\nArchitecture: amd64\n\n\
Package: guix-foo\nVersion: 1.0-1\nArchitecture: all\n\n";
const GUIX: &str = "Package: guix\nVersion: 1.5.0-1\nArchitecture: amd64\n\n";

fn index_path() -> String {
    let arch = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .expect("dpkg");
    format!(
        "/debian/dists/sid/main/binary-{}/Packages.xz",
        String::from_utf8_lossy(&arch.stdout).trim()
    )
}

fn chroot_script(mirror: &str, cache: &std::path::Path) -> Output {
    Command::new(workspace().join("scripts/guix-chroot.sh"))
        .env("QXK_CACHE_DIR", cache)
        .env("QXK_DEBIAN_MIRROR", mirror)
        .output()
        .expect("scripts/guix-chroot.sh runs")
}

fn made_chroots(cache: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(cache.join("guix-chroot"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with("guix-") || (n.starts_with(".make.") && n != ".make.lock")
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_unstable_index_without_guix_is_a_skip_before_any_debootstrap() {
    let http = HttpServer::start().unwrap();
    http.put(&index_path(), xz(WITHOUT_GUIX.as_bytes()).unwrap());
    let cache = tempfile::tempdir().unwrap();
    let o = chroot_script(&http.url("/debian"), cache.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    let skip: Vec<&str> = err.lines().filter(|l| l.starts_with("skip: ")).collect();
    assert_eq!(skip.len(), 1, "{err}");
    assert!(
        skip[0].contains("no longer serves the 'guix' package") && skip[0].contains(&index_path()),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no chroot path printed");
    assert!(
        made_chroots(cache.path()).is_empty(),
        "{:?}",
        made_chroots(cache.path())
    );
    assert_eq!(http.request_count_for(&index_path()), 1);
}

#[test]
fn an_index_with_guix_goes_on_to_debootstrap() {
    let http = HttpServer::start().unwrap();
    // guix first, then megabytes more, as in the real index: a reader that stops at the first
    // match must not turn the writer's SIGPIPE into "not found".
    let mut index = format!("{GUIX}{WITHOUT_GUIX}");
    for i in 0..40_000 {
        index.push_str(&format!(
            "Package: filler-{i}\nVersion: 1.0-1\nArchitecture: all\nDescription: padding\n\n"
        ));
    }
    http.put(&index_path(), xz(index.as_bytes()).unwrap());
    let cache = tempfile::tempdir().unwrap();
    let o = chroot_script(&http.url("/debian"), cache.path());
    let err = String::from_utf8_lossy(&o.stderr);
    // The loopback mirror has no Release file, so what follows the check fails (debootstrap,
    // or the root check when not root): an error, never a skip.
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("skip:"), "{err}");
    assert!(
        err.contains("debootstrap") || err.contains("needs root"),
        "{err}"
    );
    assert!(
        made_chroots(cache.path()).is_empty(),
        "a failed make leaves nothing"
    );
}

#[test]
fn an_unreachable_index_is_an_error_not_a_skip() {
    let http = HttpServer::start().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let o = chroot_script(&http.url("/debian"), cache.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("cannot read Debian unstable's package index"),
        "{err}"
    );
    assert!(!err.contains("skip:"), "{err}");
}
