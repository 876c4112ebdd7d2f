//! `upstream.origin = "tarball"`: `update`, `verify`, `prepare` and `export guix` take upstream
//! Xen from the signed release tarball alone (never from git), against a real loopback HTTP
//! server; hostile archives (signed with the pinned key, so only the archive check stands in
//! their way) are refused through `update` and change nothing.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::{Path, PathBuf};
use std::process::Output;

use test_archive::Member;
use test_servers::archive as test_archive;
use test_servers::git::GitServer;
use test_servers::{GpgKey, HttpServer};

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";
const DOWNLOADS: &str = "https://downloads.xenproject.org/";

fn tarball_path(version: &str) -> String {
    format!("/release/xen/{version}/xen-{version}.tar.gz")
}

struct World {
    tmp: tempfile::TempDir,
    http: HttpServer,
    _git: GitServer,
    git_url: String,
    xen_key: GpgKey,
    dir: PathBuf,
    cache: PathBuf,
}

/// Qubes tags v4.17.4-5 and v4.17.5-1 over git; Xen 4.17.4 and 4.17.5 only as signed
/// tarballs (their git repository does not exist); definitions with `origin = "tarball"`.
fn world() -> World {
    let Loopback {
        tmp,
        http,
        git,
        qubes_key,
        xen_key,
        dir,
    } = Loopback::start();
    // The next stream pins real commits the loopback servers do not have.
    for f in ["qubes-xen-next.toml", "qubes-xen-next-data.toml"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let xf = dir.join("xen.toml");
    let text = std::fs::read_to_string(&xf).unwrap();
    std::fs::write(
        &xf,
        text.replacen(
            "[upstream]\n",
            "[upstream]\n# Build from the signed release tarball.\norigin = \"tarball\"\n",
            1,
        ),
    )
    .unwrap();

    let qubes = git.create_repo("qubes-vmm-xen").unwrap();
    let config =
        std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config")).unwrap();
    for (version, rel, extra) in [("4.17.4", "5", "-old"), ("4.17.5", "1", "")] {
        for e in std::fs::read_dir(qubes.work_tree()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        let efi = format!("efi{extra}");
        write_qubes_tree(
            qubes.work_tree(),
            &QubesSpec {
                version,
                rel,
                series: chain(&[(201, "efi", efi.as_str()), (1000, "qubes", "q")]),
                dead: vec![],
                config: config.clone(),
                configure: "--disable-stubdom",
            },
        );
        let tag = format!("v{version}-{rel}");
        qubes.commit_all(&tag).unwrap();
        qubes.tag(&tag, Some(&qubes_key)).unwrap();
    }

    let w = World {
        git_url: git.url("qubes-vmm-xen"),
        tmp,
        http,
        _git: git,
        xen_key,
        dir,
        cache: PathBuf::new(),
    };
    for (version, abi) in [("4.17.4", "0x00040e00"), ("4.17.5", "0x00040e01")] {
        let tree = w.tmp.path().join(format!("xen-{version}"));
        write_upstream_tree(&tree, version, abi);
        let tarball = w.tarball_file(version);
        test_archive::make_tarball(&tree, &format!("xen-{version}"), "gz", &tarball).unwrap();
        w.serve_signed(version, std::fs::read(&tarball).unwrap());
    }
    World {
        cache: w.tmp.path().join("cache"),
        ..w
    }
}

impl World {
    fn tarball_file(&self, version: &str) -> PathBuf {
        self.tmp.path().join(format!("xen-{version}.tar.gz"))
    }

    /// Serves `bytes` as the release tarball of `version`, with a good detached signature.
    fn serve_signed(&self, version: &str, bytes: Vec<u8>) {
        let signed = self.tmp.path().join("signed.tar.gz");
        std::fs::write(&signed, &bytes).unwrap();
        let sig = self.xen_key.sign_detached(&signed, false).unwrap();
        self.http.put(&tarball_path(version), bytes);
        self.http
            .put(&format!("{}.sig", tarball_path(version)), sig);
    }

    fn run(&self, args: &[&str]) -> Output {
        let rewrites = format!(
            "{QUBES_URL}={};{DOWNLOADS}={};{XEN_URL}={}",
            self.git_url,
            self.http.url("/"),
            self.http.url("/git/xen.git")
        );
        run_rewritten(&self.dir, &self.cache, &rewrites, args)
    }

    fn upstream_git_requests(&self) -> usize {
        self.http
            .requests()
            .iter()
            .filter(|r| r.target.starts_with("/git/xen.git"))
            .count()
    }

    fn fails(&self, args: &[&str], expect: &[&str]) -> String {
        fails_unchanged(&self.dir, &format!("{args:?}"), expect, || self.run(args))
    }
}

fn sha256_hex(path: &Path) -> String {
    content_hash::hash_file(path).unwrap().0.to_hex()
}

/// `nix-hash --type sha256 --flat --base32 FILE`: Guix's url-fetch hash, independently.
fn nix_hash_flat(path: &Path) -> String {
    let o = std::process::Command::new("nix-hash")
        .args(["--type", "sha256", "--flat", "--base32"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn update_pins_the_signed_tarball_and_never_fetches_upstream_git() {
    let w = world();
    let original = snapshot(&w.dir);
    let o = w.run(&["update", "xen", "4.17.5-1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["report"];
    assert_eq!(r["upstream_origin"], "tarball");
    assert_eq!(r["upstream_commit"]["new"], "unpinned");
    // Read from the tarball's tree, which differs from 4.17.4's.
    assert_eq!(r["hv_abi"]["new"], "0x00040e01");
    assert_eq!(w.upstream_git_requests(), 0, "upstream git was fetched");

    let defs = package_defs::load_dir(&w.dir).unwrap();
    let x = defs.get("xen").unwrap().as_xen().unwrap();
    assert_eq!(x.upstream.origin, package_defs::Origin::Tarball);
    let tarball = w.tarball_file("4.17.5");
    assert_eq!(
        x.upstream.tarball.sha256.as_deref(),
        Some(sha256_hex(&tarball).as_str())
    );
    assert_eq!((&x.upstream.commit, &x.upstream.nar_sha256), (&None, &None));
    assert_eq!(x.upstream.tag, "RELEASE-4.17.5");
    let text = std::fs::read_to_string(w.dir.join("xen.toml")).unwrap();
    assert!(
        text.contains("# Build from the signed release tarball.\norigin = \"tarball\"\n")
            && text.contains("commit = \"unpinned\""),
        "{text}"
    );

    // The same update from the old pins again is served from the cache: no network I/O.
    let updated = snapshot(&w.dir);
    restore(&w.dir, &original);
    let before = w.http.request_count();
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        w.http.request_count(),
        before,
        "cached rerun did network I/O"
    );
    assert_eq!(snapshot(&w.dir), updated);

    // verify checks the tarball (sha256 + signature) and hv_abi from its tree.
    let o = w.run(&["verify", "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let xen = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "xen")
        .unwrap();
    assert_eq!(
        xen["checked"],
        serde_json::json!([
            "git pins unpinned (tarball origin)",
            "tarball sha256 + signature",
            "hv_abi"
        ])
    );
    // A tarball replaced on the server (same name, other bytes, even validly signed) fails
    // verify against the pin.
    let cache = w.cache.clone();
    std::fs::remove_dir_all(&cache).unwrap();
    let other = test_archive::gzip(&test_archive::raw_tar(&[Member::File {
        path: "xen-4.17.5/README",
        data: b"other\n",
    }]))
    .unwrap();
    w.serve_signed("4.17.5", other);
    let o = w.run(&["verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("FAIL  xen ") && stdout(&o).contains("xen-4.17.5.tar.gz"),
        "{}",
        stdout(&o)
    );
    w.serve_signed("4.17.5", std::fs::read(&tarball).unwrap());

    // The Guix module's source for xen is the url-fetch origin with the tarball's hash.
    let o = w.run(&["export", "guix", "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let scm = stdout(&o);
    assert!(
        scm.contains(&format!(
            "(sha256 (base32 \"{}\"))",
            nix_hash_flat(&tarball)
        )) && scm.contains("(define-public xen-upstream-source xen-upstream-tarball-origin)")
            && !scm.contains("(define-public xen-upstream-origin"),
        "{scm}"
    );

    // prepare unpacks the tarball and applies the series; this test tree is not a real Xen
    // tree, so header generation refuses it (prepare_xen_sys.rs does a real one).
    let vendor = w.tmp.path().join("vendor");
    let o = w.run(&["prepare", "xen", "--vendor", vendor.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("is not a Xen source tree"),
        "{err}"
    );
    assert_eq!(w.upstream_git_requests(), 0, "upstream git was fetched");
}

#[test]
fn repin_fills_the_tarball_pin_after_switching_origin() {
    let w = world();
    // The shipped tarball hash is unpinned: with the tarball as origin, nothing can build.
    let o = w.run(&["export", "guix", "-o", "-"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("xen.toml: `upstream.origin` is \"tarball\", but that origin is not pinned; pin it with `package-defs update <package> <version>-<rel> --repin`"),
        "{}",
        stderr(&o)
    );
    let o = w.run(&["verify"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("`upstream.tarball.sha256` is \"unpinned\""),
        "{}",
        stdout(&o)
    );
    noop_unchanged(
        &w.dir,
        "update to the pinned version",
        "xen: 4.17.4-5",
        || w.run(&["update", "xen", "4.17.4-5"]),
    );
    let o = w.run(&["update", "xen", "4.17.4-5", "--repin", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let defs = package_defs::load_dir(&w.dir).unwrap();
    let x = defs.get("xen").unwrap().as_xen().unwrap();
    assert_eq!(
        x.upstream.tarball.sha256.as_deref(),
        Some(sha256_hex(&w.tarball_file("4.17.4")).as_str())
    );
    assert_eq!(x.upstream.commit, None);
    let o = w.run(&["export", "guix", "-o", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // --skip-tarball cannot skip the origin itself: said, not silently ignored.
    let o = w.run(&[
        "update",
        "xen",
        "4.17.4-5",
        "--repin",
        "--skip-tarball",
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--skip-tarball does not apply to xen: the release tarball is its upstream origin"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(w.upstream_git_requests(), 0);
}

#[test]
fn hostile_tarballs_are_refused_through_update_and_change_nothing() {
    let w = world();
    let outside = w.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let abs = format!("{}/absolute", outside.display());
    let cases: Vec<(&str, Vec<Member<'_>>, &str)> = vec![
        (
            "dot-dot",
            vec![Member::File {
                path: "xen-4.17.5/../../outside/dotdot",
                data: b"x",
            }],
            "contains `..`",
        ),
        (
            "absolute",
            vec![Member::File {
                path: &abs,
                data: b"x",
            }],
            "absolute",
        ),
        (
            "escaping symlink",
            vec![
                Member::Dir { path: "xen-4.17.5" },
                Member::Symlink {
                    path: "xen-4.17.5/out",
                    target: "../../outside",
                },
                Member::File {
                    path: "xen-4.17.5/out/through-link",
                    data: b"x",
                },
            ],
            "escapes",
        ),
        (
            "escaping hard link",
            vec![Member::Hardlink {
                path: "xen-4.17.5/h",
                target: "../outside/victim",
            }],
            "`xen-4.17.5/h`",
        ),
    ];
    for (what, members, why) in cases {
        // Each hostile file is new bytes under the same URL: start from an empty cache.
        let _ = std::fs::remove_dir_all(&w.cache);
        let bytes = test_archive::gzip(&test_archive::raw_tar(&members)).unwrap();
        w.serve_signed("4.17.5", bytes);
        let err = w.fails(
            &["update", "xen", "4.17.5-1"],
            &["xen-4.17.5.tar.gz", "refusing entry", why],
        );
        assert!(
            std::fs::read_dir(&outside).unwrap().next().is_none(),
            "{what}: something was written outside the target: {err}"
        );
    }
    // A good tarball under a signature by a key that is not pinned: refused too.
    let _ = std::fs::remove_dir_all(&w.cache);
    let good = std::fs::read(w.tarball_file("4.17.5")).unwrap();
    let stranger = GpgKey::generate("Stranger <s@example.org>", "ed25519").unwrap();
    w.http.put(&tarball_path("4.17.5"), good.clone());
    w.http.put(
        &format!("{}.sig", tarball_path("4.17.5")),
        stranger
            .sign_detached(&w.tarball_file("4.17.5"), false)
            .unwrap(),
    );
    w.fails(
        &["update", "xen", "4.17.5-1"],
        &["xen-4.17.5.tar.gz", &stranger.fingerprint()[24..]],
    );
    // Once the server is fixed, a rerun succeeds.
    w.serve_signed("4.17.5", good);
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(w.upstream_git_requests(), 0);
}

#[test]
fn the_loader_names_bad_origins_and_unpinned_git_pins() {
    let (_tmp, dir) = shipped_copy();
    let xf = dir.join("xen.toml");
    let text = std::fs::read_to_string(&xf).unwrap();
    std::fs::write(
        &xf,
        text.replacen("[upstream]\n", "[upstream]\norigin = \"zip\"\n", 1),
    )
    .unwrap();
    let e = package_defs::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("xen.toml:") && e.contains("`upstream.origin` must be \"git\""),
        "{e}"
    );
    // A git-origin package cannot leave its git pins unpinned.
    let commit = package_defs::load_dir(&shipped())
        .unwrap()
        .get("xen")
        .unwrap()
        .as_xen()
        .unwrap()
        .upstream
        .commit
        .clone()
        .unwrap();
    std::fs::write(&xf, text.replace(&format!("\"{commit}\""), "\"unpinned\"")).unwrap();
    let e = package_defs::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("`upstream.commit` is \"unpinned\", but the package builds from git"),
        "{e}"
    );
    // The same file with the tarball as origin loads.
    std::fs::write(
        &xf,
        text.replace(&format!("\"{commit}\""), "\"unpinned\"")
            .replacen("[upstream]\n", "[upstream]\norigin = \"tarball\"\n", 1),
    )
    .unwrap();
    let defs = package_defs::load_dir(&dir).unwrap();
    assert_eq!(
        defs.get("xen").unwrap().as_xen().unwrap().upstream.commit,
        None
    );
}

/// With no sha256 pinned, the tarball's bytes reach no decompressor or tar parser before its
/// signature checked out: a tarball signed by a stranger leaves no unpacked file at all.
#[test]
fn an_unpinned_tarball_is_not_unpacked_before_its_signature_checks_out() {
    use package_defs::sources::fetch::{pinned_keys, GitSources, Sources};
    let w = world();
    let rewrites = source_fetch::UrlRewrites::from_args_and_process_env(&[format!(
        "{DOWNLOADS}={}",
        w.http.url("/")
    )])
    .unwrap();
    let sources =
        GitSources::new(&w.cache, rewrites, std::time::Duration::from_secs(60), true).unwrap();
    let keys = pinned_keys(&w.dir, &[w.xen_key.fingerprint().to_string()]).unwrap();
    let url = format!("https://downloads.xenproject.org{}", tarball_path("4.17.5"));
    let sig = format!("{url}.sig");
    let dest = w.tmp.path().join("unpacked");

    let stranger = GpgKey::generate("Stranger <s@example.org>", "ed25519").unwrap();
    w.http.put(
        &format!("{}.sig", tarball_path("4.17.5")),
        stranger
            .sign_detached(&w.tarball_file("4.17.5"), false)
            .unwrap(),
    );
    let e = sources
        .signed_tarball_tree(&url, &sig, None, &keys, &dest)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains(&stranger.fingerprint()[24..]),
        "{e:#}"
    );
    assert!(!dest.exists(), "unpacked before the signature was checked");

    // Control: the pinned key's signature (the stale cached one is fetched again), and the
    // tree is there.
    w.serve_signed("4.17.5", std::fs::read(w.tarball_file("4.17.5")).unwrap());
    let tree = sources
        .signed_tarball_tree(&url, &sig, None, &keys, &dest)
        .unwrap();
    assert!(tree.root.join("xen/Makefile").is_file(), "{tree:?}");
}

/// A signature binds bytes, not a file name: Xen 4.17.4's real-signed tarball served as
/// 4.17.5 is refused by the version its tree says, and the true one then passes.
#[test]
fn an_old_release_tarball_served_under_a_new_name_is_refused() {
    let w = world();
    let old = std::fs::read(w.tarball_file("4.17.4")).unwrap();
    w.serve_signed("4.17.5", old);
    w.fails(
        &["update", "xen", "4.17.5-1"],
        &[
            "release tarball from https://downloads.xenproject.org/release/xen/4.17.5/xen-4.17.5.tar.gz",
            "xen/Makefile says Xen 4.17.4, but 4.17.5 was asked for",
        ],
    );
    let _ = std::fs::remove_dir_all(&w.cache);
    w.serve_signed("4.17.5", std::fs::read(w.tarball_file("4.17.5")).unwrap());
    let o = w.run(&["update", "xen", "4.17.5-1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
