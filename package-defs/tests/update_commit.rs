//! A stream pinned to a commit of an unmerged branch: `update PACKAGE --commit SHA` against a
//! real loopback git server moves it, reading version and rel from the commit, pinning the Qubes
//! data by id (unsigned, and said so) while upstream Xen is still signature-checked; then
//! `verify` and `prepare` follow the commit. Every refusal leaves the definitions as they were.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use std::path::PathBuf;
use std::process::Output;

use test_servers::git::GitServer;
use test_servers::HttpServer;

const QUBES_URL: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const XEN_URL: &str = "https://xenbits.xen.org/git-http/xen.git";
/// The real pin of qubes-xen-next-data, replaced by this test's commits.
const REAL_DATA_COMMIT: &str = "11439be4649658555b5e530b6f526c4e63d6ceb2";

struct World {
    _tmp: tempfile::TempDir,
    _http: HttpServer,
    git: GitServer,
    dir: PathBuf,
    cache: PathBuf,
    old: String,
    new: String,
    oracle_new: PathBuf,
}

fn spec<'a>(version: &'a str, rel: &'a str, line: &'a str, config: &str) -> QubesSpec<'a> {
    QubesSpec {
        version,
        rel,
        series: chain(&[(200, "efi", line), (1000, "qubes", "q")]),
        dead: vec![],
        config: config.to_string(),
        configure: "--disable-stubdom",
    }
}

fn world() -> World {
    let Loopback {
        tmp,
        http,
        git,
        qubes_key: _,
        xen_key,
        dir,
    } = Loopback::start();

    // Two untagged commits of an unmerged branch: the pinned one and the next.
    let qubes = git.create_repo("qubes-vmm-xen").unwrap();
    let config =
        std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.19.4-9/config")).unwrap();
    write_qubes_tree(qubes.work_tree(), &spec("4.19.4", "9", "efi-old", &config));
    let old = qubes.commit_all("wip: 4.19.4").unwrap();
    for e in std::fs::read_dir(qubes.work_tree()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let mut new_config = config.clone();
    new_config.push_str("CONFIG_QXK_TEST=y\n");
    write_qubes_tree(
        qubes.work_tree(),
        &spec("4.19.5", "1", "efi-new", &new_config),
    );
    let new = qubes.commit_all("wip: 4.19.5").unwrap();
    let oracle_new = tmp.path().join("oracle-qubes");
    copy_dir(qubes.work_tree(), &oracle_new);

    // Upstream Xen 4.19.5 as a signed tag.
    let xen = git.create_repo("xen").unwrap();
    write_upstream_tree(xen.work_tree(), "4.19.5", "0x00041300");
    xen.commit_all("Xen 4.19.5").unwrap();
    xen.tag("RELEASE-4.19.5", Some(&xen_key)).unwrap();

    // qubes-xen-next follows the pinned commit; its data is pinned to it, without a tag.
    let f = dir.join("qubes-xen-next.toml");
    let t = std::fs::read_to_string(&f).unwrap();
    std::fs::write(
        &f,
        t.replace("branch = \"main\"", &format!("commit = \"{old}\"")),
    )
    .unwrap();
    let f = dir.join("qubes-xen-next-data.toml");
    let t = std::fs::read_to_string(&f).unwrap();
    std::fs::write(
        &f,
        t.replace("tag = \"v4.19.4-9\"\n", "")
            .replace(REAL_DATA_COMMIT, &old),
    )
    .unwrap();
    package_defs::load_dir(&dir).expect("commit-pinned definitions load");
    World {
        cache: tmp.path().join("cache"),
        _tmp: tmp,
        _http: http,
        git,
        dir,
        old,
        new,
        oracle_new,
    }
}

impl World {
    fn run(&self, args: &[&str]) -> Output {
        let rewrites = format!(
            "{QUBES_URL}={};{XEN_URL}={}",
            self.git.url("qubes-vmm-xen"),
            self.git.url("xen")
        );
        run_rewritten(&self.dir, &self.cache, &rewrites, args)
    }

    fn fails(&self, args: &[&str], expect: &str) {
        fails_unchanged(&self.dir, &format!("{args:?}"), &[expect], || {
            self.run(args)
        });
    }
}

#[test]
fn update_moves_a_commit_pinned_stream_to_another_commit() {
    let w = world();
    let o = w.run(&[
        "update",
        "qubes-xen-next",
        "--commit",
        &w.new,
        "--skip-tarball",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("Qubes data at commit {} of", w.new))
            && stderr(&o).contains("is not signed"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &v["report"];
    assert_eq!(r["version"]["new"], "4.19.5-1");
    assert_eq!(r["qubes_signed"], false);
    assert_eq!(r["qubes_tag"]["new"], serde_json::Value::Null);
    assert_eq!(r["qubes_commit"]["new"], w.new.as_str());
    // The old commit was fetched too, so the config diff is there.
    assert_eq!(
        r["config_changes"],
        serde_json::json!([{"symbol": "QXK_TEST", "old": null, "new": "y"}])
    );

    let defs = package_defs::load_dir(&w.dir).unwrap();
    let x = defs.get("qubes-xen-next").unwrap().as_xen().unwrap();
    assert!(matches!(&x.stream.reference, package_defs::StreamRef::Commit(c) if *c == w.new));
    assert_eq!(x.upstream.tag, "RELEASE-4.19.5");
    let d = defs.get("qubes-xen-next-data").unwrap().as_data().unwrap();
    assert_eq!(
        (d.source.tag.as_deref(), d.source.commit.as_str()),
        (None, w.new.as_str())
    );
    assert_eq!(d.source.nar_sha256, nix_hash(&w.oracle_new));
    let text = std::fs::read_to_string(w.dir.join("qubes-xen-next-data.toml")).unwrap();
    assert!(!text.contains("tag = "), "{text}");
    // The tagged stream is untouched.
    assert_eq!(defs.get("xen").unwrap().version.to_string(), "4.17.4-5");

    // The human report says the data is unsigned.
    noop_unchanged(
        &w.dir,
        "update to the pinned commit",
        &format!("qubes-xen-next: commit {} is already pinned", w.new),
        || w.run(&["update", "qubes-xen-next", "--commit", &w.new]),
    );
    let o = w.run(&[
        "update",
        "qubes-xen-next",
        "--commit",
        &w.new,
        "--repin",
        "--skip-tarball",
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("qubes data: UNSIGNED") && stdout(&o).contains("(untagged commit)"),
        "{}",
        stdout(&o)
    );

    // verify fetches the pinned commit and checks every hash of the data against it.
    let o = w.run(&["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let data = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["package"] == "qubes-xen-next-data")
        .unwrap();
    assert_eq!(data["problems"], serde_json::json!([]), "{data}");
    assert_eq!(
        data["checked"][0],
        "commit (unsigned: unmerged branch, pinned by id)"
    );
    // prepare gets the data at the commit and applies its series; this upstream tree is not a
    // real Xen tree, so header generation refuses it (prepare_xen_sys.rs does a real one).
    let vendor = w.dir.parent().unwrap().join("vendor");
    let o = w.run(&[
        "prepare",
        "qubes-xen-next",
        "--vendor",
        vendor.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("is not a Xen source tree"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn commit_updates_are_refused_clearly_and_change_nothing() {
    let w = world();
    w.fails(&["update", "qubes-xen-next", "4.19.5-1"], "pins commit");
    w.fails(&["update", "qubes-xen-next"], "give the VERSION-REL to pin");
    w.fails(
        &["update", "xen", "--commit", &w.new],
        "xen follows the signed tags of branch release4.2; `--commit` is only for a stream pinned to a commit",
    );
    w.fails(
        &["update", "qubes-xen-next", "--commit", "abc123"],
        "--commit \"abc123\": expected a full commit id",
    );
    w.fails(
        &["update", "qubes-xen-next", "4.19.6-1", "--commit", &w.new],
        &format!("commit {} holds version 4.19.5-1", w.new),
    );
    let missing = "0123456789abcdef0123456789abcdef01234567";
    w.fails(
        &["update", "qubes-xen-next", "--commit", missing],
        &format!("Qubes data at commit {missing}"),
    );
    noop_unchanged(
        &w.dir,
        "update to the pinned commit",
        "is already pinned",
        || w.run(&["update", "qubes-xen-next", "--commit", &w.old]),
    );
    // Going back to an older version is a downgrade, as for tags.
    let o = w.run(&[
        "update",
        "qubes-xen-next",
        "--commit",
        &w.new,
        "--skip-tarball",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    w.fails(
        &["update", "qubes-xen-next", "--commit", &w.old],
        "4.19.4-9 is older than the pinned 4.19.5-1; pass --allow-downgrade",
    );
}
