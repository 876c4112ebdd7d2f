//! Planning and writing an update from real trees: spec series, hashes (against nix-hash),
//! the report, in-place edits that keep comments, the atomic swap, and the Guix export.

mod common;
#[path = "common/trees.rs"]
mod trees;
use common::*;
use trees::*;

use package_defs::defs::txn;
use package_defs::update::{self, Allow, Fetched, UpdateError};
use package_defs::{load_dir, QubesVersion};

fn q(s: &str) -> QubesVersion {
    QubesVersion::parse(s).unwrap()
}

#[test]
fn a_stream_pinned_to_an_unmerged_commit_is_not_updated_to_unverifiable_pins() {
    let (_tmp, dir) = baseline_copy();
    let f = dir.join("qubes-xen-next.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    assert!(text.contains("branch = \"main\""));
    std::fs::write(
        &f,
        text.replace("branch = \"main\"", &format!("commit = \"{commit}\"")),
    )
    .unwrap();
    // Its data is pinned to the same commit, without a tag (a loader rule, checked below).
    let df = dir.join("qubes-xen-next-data.toml");
    let dtext = std::fs::read_to_string(&df).unwrap();
    let real = "11439be4649658555b5e530b6f526c4e63d6ceb2";
    std::fs::write(
        &df,
        dtext
            .replace("tag = \"v4.19.4-9\"\n", "")
            .replace(real, commit),
    )
    .unwrap();
    let defs = load_dir(&dir).unwrap();
    let e = update::resolve(&defs, "qubes-xen-next", q("4.19.5-1"), Allow::default())
        .err()
        .unwrap();
    assert!(matches!(e, UpdateError::CommitPinnedStream { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{}: qubes-xen-next's [stream] pins commit {commit} of an unmerged branch of https://github.com/QubesOS/qubes-vmm-xen", f.display())),
        "{msg}"
    );
    assert!(
        msg.contains("no signed `v<version>-<rel>` tags")
            && msg.contains("package-defs update qubes-xen-next --commit <40-hex commit>"),
        "{msg}"
    );
    // The loader keeps stream and data consistent: a tag on the data, or another commit.
    std::fs::write(&df, dtext.replace(real, commit)).unwrap();
    let e = load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains(
            "but data package 'qubes-xen-next-data' pins the tag v4.19.4-9; remove `source.tag`"
        ),
        "{e}"
    );
    std::fs::write(&df, dtext.replace("tag = \"v4.19.4-9\"\n", "")).unwrap();
    let e = load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains(&format!("[stream] pins commit {commit}, but data package 'qubes-xen-next-data' pins commit {real}")),
        "{e}"
    );
    std::fs::write(
        &df,
        dtext
            .replace("tag = \"v4.19.4-9\"\n", "")
            .replace(real, commit),
    )
    .unwrap();
    // The other stream is unaffected.
    assert!(update::resolve(&defs, "xen", q("4.17.5-1"), Allow::default()).is_ok());
    // The CLI gives that one error before any network I/O and leaves every file as it was.
    let before = snapshot(&dir);
    let o = run(&["update", "qubes-xen-next", "4.19.5-1"], &dir);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("qubes-xen-next's [stream] pins commit {commit}")),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn resolve_refuses_downgrades_other_streams_and_data_packages() {
    let (_tmp, dir) = baseline_copy();
    let defs = load_dir(&dir).unwrap();
    let e = update::resolve(&defs, "xen", q("4.17.4-4"), Allow::default())
        .err()
        .unwrap();
    assert!(matches!(e, UpdateError::Downgrade { .. }));
    assert_eq!(
        e.to_string(),
        "xen: 4.17.4-4 is older than the pinned 4.17.4-5; pass --allow-downgrade to go back"
    );
    assert!(update::resolve(
        &defs,
        "xen",
        q("4.17.4-4"),
        Allow {
            downgrade: true,
            ..Allow::default()
        }
    )
    .is_ok());
    assert!(matches!(
        update::resolve(&defs, "xen", q("4.17.4-5"), Allow::default())
            .err()
            .unwrap(),
        UpdateError::AlreadyPinned { .. }
    ));
    // ... unless a repin is asked for.
    let repin = Allow {
        repin: true,
        ..Allow::default()
    };
    assert!(update::resolve(&defs, "xen", q("4.17.4-5"), repin).is_ok());
    let e = update::resolve(&defs, "xen", q("4.19.4-9"), Allow::default())
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "xen: 4.19.4-9 belongs to Xen 4.19, but this stream follows Xen 4.17 (`stream.xen_series`); pass --allow-stream to move streams");
    assert!(update::resolve(
        &defs,
        "xen",
        q("4.19.4-9"),
        Allow {
            stream: true,
            ..Allow::default()
        }
    )
    .is_ok());
    // A release candidate of the next release is newer than the pin; an rc of the pinned one is older.
    assert!(update::resolve(&defs, "xen", q("4.17.5-rc1-1"), Allow::default()).is_ok());
    assert!(matches!(
        update::resolve(&defs, "xen", q("4.17.4-rc2-9"), Allow::default())
            .err()
            .unwrap(),
        UpdateError::Downgrade { .. }
    ));
    let e = update::resolve(&defs, "qubes-vmm-xen-data", q("4.17.5-1"), Allow::default())
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "'qubes-vmm-xen-data' is a data package; update the xen package that uses it (xen)"
    );
}

fn real_config() -> String {
    std::fs::read_to_string(fixtures().join("qubes-vmm-xen/v4.17.4-5/config")).unwrap()
}

/// Old data tree = the pinned v4.17.4-5 shape (first patches of the real series' names),
/// new tree = a 4.17.5-1 with a renumbered, an added, a dropped and a changed patch.
fn make_trees(root: &std::path::Path) -> Fetched {
    let p = |n: u32, name: &str, line: &str| {
        (
            n,
            format!("{n:04}-{name}.patch"),
            patch_text(name, "base", line),
        )
    };
    let old = QubesSpec {
        version: "4.17.4",
        rel: "5",
        series: vec![
            p(201, "efi", "efi"),
            p(500, "xsa-1", "xsa1"),
            p(501, "xsa-2", "xsa2"),
            p(1000, "qubes", "q"),
        ],
        dead: vec![],
        config: real_config(),
        configure: "--disable-stubdom --enable-systemd",
    };
    write_qubes_tree(&root.join("old"), &old);
    let new = QubesSpec {
        version: "4.17.5",
        rel: "1",
        // Spec order is not numeric order; 0501 is renumbered to 0502 (same content).
        series: vec![
            p(1000, "qubes", "q"),
            p(201, "efi", "efi v2"),
            p(502, "xsa-2", "xsa2"),
            p(503, "xsa-3", "xsa3"),
        ],
        // A dead patch and one reusing a listed number: neither is in the spec.
        dead: vec![
            ("0500-xsa-1.patch".into(), "dead".into()),
            ("0503-duplicate-number.patch".into(), "dup".into()),
        ],
        config: real_config()
            .replace("CONFIG_NR_CPUS=256", "CONFIG_NR_CPUS=512")
            .replace("# CONFIG_PV32 is not set", "CONFIG_PV32=y"),
        configure: "--disable-stubdom --disable-xsmpolicy",
    };
    write_qubes_tree(&root.join("new"), &new);
    write_upstream_tree(&root.join("upstream"), "4.17.5", "0x00040e00");
    Fetched {
        qubes_dir: root.join("new"),
        qubes_commit: "1111111111111111111111111111111111111111".into(),
        old_qubes_dir: Some(root.join("old")),
        upstream_dir: root.join("upstream"),
        upstream_commit: Some("2222222222222222222222222222222222222222".into()),
        tarball_sha256: None,
    }
}

#[test]
fn plan_reads_the_spec_hashes_like_nix_and_writes_atomically() {
    let (tmp, dir) = baseline_copy();
    let fetched = make_trees(&tmp.path().join("trees"));
    let before = snapshot(&dir);
    let defs = load_dir(&dir).unwrap();
    let t = update::resolve(&defs, "xen", q("4.17.5-1"), Allow::default()).unwrap();
    let plan = update::plan(&defs, &t, &fetched).unwrap();
    let r = &plan.report;

    assert_eq!(
        (r.version.old.as_str(), r.version.new.as_str()),
        ("4.17.4-5", "4.17.5-1")
    );
    assert_eq!(r.upstream_tag.new, "RELEASE-4.17.5");
    // Against the real pinned series, every real patch is dropped and the test ones added.
    assert_eq!(r.patches.added.len(), 4);
    assert_eq!(r.patches.dropped.len(), t.data.patches.len());
    assert!(!r.security.all_present);
    assert_eq!(
        r.security.in_series,
        ["0502-xsa-2.patch", "0503-xsa-3.patch"]
    );
    assert_eq!(
        r.patches.unlisted,
        ["0500-xsa-1.patch", "0503-duplicate-number.patch"]
    );
    let cfg: Vec<String> = r
        .config_changes
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| format!("{}={:?}->{:?}", c.symbol, c.old, c.new))
        .collect();
    assert_eq!(
        cfg,
        [
            "NR_CPUS=Some(\"256\")->Some(\"512\")",
            "PV32=Some(\"n\")->Some(\"y\")"
        ]
    );
    let flags = r.spec_configure_flags.as_ref().unwrap();
    assert_eq!(
        (flags.old.clone(), flags.new.clone()),
        (
            vec!["--enable-systemd".to_string()],
            vec!["--disable-xsmpolicy".to_string()]
        )
    );
    assert_eq!(
        (r.hv_abi.old.as_str(), r.hv_abi.new.as_str()),
        ("0x00040e00", "0x00040e00")
    );
    let text = update::render(r);
    assert!(text.contains("security patches DROPPED"), "{text}");
    assert!(text.contains("CONFIG_NR_CPUS: 256 -> 512"), "{text}");

    // Nothing is written by planning.
    assert_eq!(snapshot(&dir), before);
    let diff = update::diff(&dir, &plan.changes);
    assert!(
        diff.contains("-version = \"4.17.4\"\n-rel = 5\n+version = \"4.17.5\"\n+rel = 1\n"),
        "{diff}"
    );

    txn::commit(&dir, &plan.changes).unwrap();
    let after = load_dir(&dir).unwrap();
    let x = after.get("xen").unwrap().as_xen().unwrap();
    assert_eq!(after.get("xen").unwrap().version, q("4.17.5-1"));
    assert_eq!(x.upstream.nar_sha256, Some(nix_hash(&fetched.upstream_dir)));
    assert_eq!(
        x.upstream.tarball.url,
        "https://downloads.xenproject.org/release/xen/4.17.5/xen-4.17.5.tar.gz"
    );
    let d = after.get("qubes-vmm-xen-data").unwrap().as_data().unwrap();
    assert_eq!(d.source.nar_sha256, nix_hash(&fetched.qubes_dir));
    assert_eq!(d.source.tag.as_deref(), Some("v4.17.5-1"));
    let order: Vec<u32> = d.patches.iter().map(|p| p.number).collect();
    assert_eq!(order, [1000, 201, 502, 503]);
    let sha = |f: &str| {
        content_hash::hash_file(&fetched.qubes_dir.join(f))
            .unwrap()
            .0
            .to_hex()
    };
    assert_eq!(d.patches[1].sha256, sha("0201-efi.patch"));
    assert_eq!(d.config.sha256, sha("config"));

    // Comments and the untouched packages are kept byte for byte.
    let old_xen = std::fs::read_to_string(baseline_files().join("xen.toml")).unwrap();
    let new_xen = std::fs::read_to_string(dir.join("xen.toml")).unwrap();
    let comments = |t: &str| {
        t.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(comments(&old_xen), comments(&new_xen));
    assert_eq!(old_xen.lines().count(), new_xen.lines().count());
    for f in ["qubes-xen-next.toml", "qubes-xen-next-data.toml"] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(shipped().join(f)).unwrap()
        );
    }

    // The Guix export carries exactly nix-hash's NAR hashes.
    let scm = package_defs::export::guix::export(&after).unwrap();
    assert!(scm.contains(&format!("(base32 \"{}\")", nix_hash(&fetched.upstream_dir))));
    assert!(scm.contains(&format!("(base32 \"{}\")", nix_hash(&fetched.qubes_dir))));
}

#[test]
fn a_tree_whose_files_disagree_with_the_tag_is_refused() {
    let (tmp, dir) = baseline_copy();
    let fetched = make_trees(&tmp.path().join("trees"));
    std::fs::write(fetched.qubes_dir.join("rel"), "2\n").unwrap();
    let defs = load_dir(&dir).unwrap();
    let t = update::resolve(&defs, "xen", q("4.17.5-1"), Allow::default()).unwrap();
    let e = update::plan(&defs, &t, &fetched).unwrap_err().to_string();
    assert_eq!(
        e,
        "https://github.com/QubesOS/qubes-vmm-xen tag v4.17.5-1: its `version`/`rel` files say 4.17.5-2, but 4.17.5-1 was asked for: the server serves another release under this tag (a stale or compromised mirror); refusing it"
    );
}

#[test]
fn a_malformed_spec_is_refused_with_its_line() {
    let (tmp, dir) = baseline_copy();
    let fetched = make_trees(&tmp.path().join("trees"));
    let spec = fetched.qubes_dir.join("xen.spec.in");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace("Patch0503: 0503-xsa-3.patch", "Patch0502: 0503-xsa-3.patch"),
    )
    .unwrap();
    let defs = load_dir(&dir).unwrap();
    let t = update::resolve(&defs, "xen", q("4.17.5-1"), Allow::default()).unwrap();
    let e = update::plan(&defs, &t, &fetched).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:11: patch number 502 is already used on line 10",
            spec.display()
        )
    );

    std::fs::write(
        &spec,
        text.replace(
            "Patch0503: 0503-xsa-3.patch",
            "Patch0503: 0503-missing.patch",
        ),
    )
    .unwrap();
    let e = update::plan(&defs, &t, &fetched).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:11: `Patch0503: 0503-missing.patch` names a file that is not in the tree",
            spec.display()
        )
    );
}
