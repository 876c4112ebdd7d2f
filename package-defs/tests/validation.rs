//! Loading refuses bad definitions with `file:line:column: what is expected`.

mod common;
use common::*;

use package_defs::load_dir;

/// Applies `edit` to one file of a copy of the shipped definitions (`xen` at the fixed
/// v4.17.4-5 baseline the edits are written for) and returns the error text.
fn error_after(file: &str, edit: impl Fn(&str) -> String) -> String {
    let (_tmp, dir) = baseline_copy();
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    let new = edit(&text);
    assert_ne!(new, text, "edit did nothing");
    std::fs::write(&p, new).unwrap();
    let e = load_dir(&dir).unwrap_err().to_string();
    // Messages name the file as the caller named the folder.
    e.replace(&format!("{}/", dir.display()), "definitions/")
}

fn line_of(file: &str, needle: &str) -> usize {
    let (_tmp, dir) = baseline_copy();
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn bad_commit_names_file_line_column() {
    let line = line_of("xen.toml", "commit = ");
    let e = error_after("xen.toml", |t| {
        t.replace(
            "commit = \"d530627aaa9b6e03c7f911434bb342fca3d13300\"",
            "commit = \"abc\"",
        )
    });
    assert_eq!(e, format!("definitions/xen.toml:{line}:10: `upstream.commit` must be 40 lowercase hex digits (a git commit id) or \"unpinned\", found 'abc'"));
}

#[test]
fn malformed_toml_points_at_the_syntax_error() {
    let line = line_of("qubes-vmm-xen-data.toml", "[config]");
    let e = error_after("qubes-vmm-xen-data.toml", |t| {
        t.replace("[config]", "[config")
    });
    assert!(
        e.starts_with(&format!("definitions/qubes-vmm-xen-data.toml:{line}:")),
        "{e}"
    );
    assert!(e.contains("invalid TOML"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = error_after("qubes-xen-next.toml", |t| {
        t.replace("hv_abi = \"0x00041300\"", "hv_abi = 4")
            .replace(
                "nar_sha256 = \"1n881a2rw35xq9ymbx6my9nriq0d7r0zkiqy672yvcnxbv8iwzap\"",
                "nar_sha256 = \"sha256-xyz\"",
            )
            .replace(
                "xen_series = \"4.19\"",
                "xen_series = \"4.19\"\nbranchh = \"x\"",
            )
    });
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].contains("`hv_abi` must be a string, found integer"),
        "{e}"
    );
    assert!(
        lines[1].contains(
            "unknown key `stream.branchh`; expected one of: repo, branch, commit, xen_series"
        ),
        "{e}"
    );
    assert!(
        lines[2].contains("`upstream.nar_sha256` must be a NAR sha256 in Nix/Guix base32"),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("definitions/qubes-xen-next.toml:")),
        "{e}"
    );
}

#[test]
fn cross_file_and_consistency_rules() {
    let e = error_after("qubes-vmm-xen-data.toml", |t| {
        t.replacen("rel = 5", "rel = 6", 1)
    });
    assert!(
        e.contains("`source.tag` must be 'v4.17.4-6' (v<version>-<rel>), found 'v4.17.4-5'"),
        "{e}"
    );

    let e = error_after("xen.toml", |t| {
        t.replace("tag = \"RELEASE-4.17.4\"", "tag = \"RELEASE-4.17.3\"")
    });
    assert!(e.contains("`upstream.tag` must be 'RELEASE-4.17.4' (the upstream tag of `version`), found 'RELEASE-4.17.3'"), "{e}");

    let e = error_after("xen.toml", |t| {
        t.replace(
            "data = \"qubes-vmm-xen-data\"",
            "data = \"qubes-xen-next-data\"",
        )
    });
    assert!(
        e.contains(
            "version-rel 4.17.4-5 differs from data package 'qubes-xen-next-data' (4.19.4-9)"
        ),
        "{e}"
    );

    let e = error_after("xen.toml", |t| {
        t.replace("xen_series = \"4.17\"", "xen_series = \"4.19\"")
    });
    assert!(
        e.contains("`version` 4.17.4 is not in this stream's Xen series 4.19"),
        "{e}"
    );

    let e = error_after("xen.toml", |t| {
        t.replace(
            "branch = \"release4.2\"",
            "branch = \"release4.2\"\ncommit = \"d530627aaa9b6e03c7f911434bb342fca3d13300\"",
        )
    });
    assert!(e.contains("[stream] needs exactly one of `branch`"), "{e}");

    let e = error_after("xen.toml", |t| {
        t.replace(
            "23E3222C145F4475FA8060A783FE14C957E82BD9",
            "23E3222C145F4475FA8060A783FE14C957E82BD8",
        )
    });
    assert!(
        e.contains("no pinned public key for 23E3222C145F4475FA8060A783FE14C957E82BD8: add it as"),
        "{e}"
    );

    let e = error_after("qubes-vmm-xen-data.toml", |t| {
        t.replacen("number = 202", "number = 201", 1)
    });
    assert!(
        e.contains("patch number 201 appears twice (also patch[0]); numbers must be unique"),
        "{e}"
    );

    let e = error_after("qubes-vmm-xen-data.toml", |t| {
        t.replacen("file = \"config\"", "file = \"../config\"", 1)
    });
    assert!(e.contains("`config.file` must be a plain file name"), "{e}");

    let e = error_after("xen.toml", |t| {
        t.replace("name = \"xen\"", "name = \"xen2\"")
    });
    assert!(
        e.contains("`name` must equal the file name without .toml ('xen'), found 'xen2'"),
        "{e}"
    );
}

#[test]
fn an_unpinned_marker_is_only_allowed_for_the_tarball() {
    let e = error_after("qubes-vmm-xen-data.toml", |t| {
        t.replacen(
            "sha256 = \"ed824d2386558c677cf37725e78b37c9186e00f64f4e6effe1c501d1390e2718\"",
            "sha256 = \"unpinned\"",
            1,
        )
    });
    assert!(
        e.contains("`config.sha256` must be a sha256 as 64 lowercase hex digits, found 'unpinned'"),
        "{e}"
    );
}

#[test]
fn an_allowed_dropped_option_must_be_spelt_as_config_spells_it() {
    let line = line_of("qubes-xen-next.toml", "allow_dropped_options");
    let e = error_after("qubes-xen-next.toml", |t| {
        t.replace("[\"CONFIG_HAS_PDX\"]", "[\"HAS_PDX\"]")
    });
    assert!(
        e.starts_with(&format!("definitions/qubes-xen-next.toml:{line}:"))
            && e.contains(
                "must be a Kconfig option as `.config` spells it, such as \"CONFIG_XEN_IBT\""
            )
            && e.contains("HAS_PDX"),
        "{e}"
    );
}
