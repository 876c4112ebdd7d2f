//! Dependencies point one way: the Kconfig engine is a leaf library. Reconciling a
//! definition is package-defs' glue, so nothing that fetches, verifies or edits definitions
//! (HTTP, TLS, OpenPGP, the workflow crates) may enter xen-config's dependency tree.

use std::process::Command;

#[test]
fn xen_config_depends_on_no_workflow_http_tls_or_openpgp_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--quiet",
            "--offline",
            "--locked",
            "-p",
            "xen-config",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(root)
        .output()
        .expect("run cargo tree");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && tree.starts_with("xen-config "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for banned in [
        "package-defs",
        "bump-bot",
        "source-fetch",
        "upstream-tags",
        "reqwest",
        "hyper",
        "rustls",
        "pgp",
        "toml_edit",
    ] {
        assert!(
            !crates.contains(&banned),
            "xen-config depends on {banned}:\n{tree}"
        );
    }
    // The engine itself and the leaf it hashes with are there (the check sees the real tree).
    assert!(crates.contains(&"content-hash"), "{tree}");
}
