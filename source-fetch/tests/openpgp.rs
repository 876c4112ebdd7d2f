//! OpenPGP verification with keys and signatures made by real gpg, and the real pinned keys.

use std::path::Path;

use source_fetch::{verify_detached, verify_git_tag, PgpError, PinnedKey};
use test_servers::GpgKey;

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/upstream"
    ))
}

#[test]
fn real_xen_and_qubes_keys_load_with_expected_fingerprints() {
    let tsv = std::fs::read_to_string(fixtures().join("keys.tsv")).unwrap();
    let mut seen = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (fpr, file) = (cols[1], cols[2]);
        let key = PinnedKey::pinned_file(&fixtures().join(file), fpr).unwrap();
        assert_eq!(key.fingerprint(), fpr, "{file}");
        seen += 1;
    }
    assert_eq!(seen, 2);
    let xen = PinnedKey::pinned_file(
        &fixtures().join("xen.org-key.asc"),
        "23E3222C145F4475FA8060A783FE14C957E82BD9",
    )
    .unwrap();
    assert!(
        xen.warnings()
            .iter()
            .any(|w| w.contains("SHA-1") && w.contains("23E3222C145F4475FA8060A783FE14C957E82BD9")),
        "the Xen key's SHA-1 self-signatures must be accepted with a warning: {:?}",
        xen.warnings()
    );
    assert!(
        xen.user_ids()
            .iter()
            .any(|u| u.contains("xen.org") || u.contains("Xen")),
        "{:?}",
        xen.user_ids()
    );
}

#[test]
fn garbage_key_is_refused_with_origin() {
    let e = PinnedKey::from_armored("not a key", "keys/broken.asc").unwrap_err();
    assert!(
        matches!(e, PgpError::BadKey { .. }) && e.to_string().contains("keys/broken.asc"),
        "{e}"
    );
}

#[test]
fn detached_signatures_good_bad_missing_and_wrong_key() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("xen-4.17.4.tar.gz");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let signer = GpgKey::generate("Release Signer <release@example.org>", "rsa2048").unwrap();
    let other = GpgKey::generate("Someone Else <else@example.org>", "ed25519").unwrap();
    let pinned = PinnedKey::from_armored(&signer.armored_public_key().unwrap(), "signer").unwrap();
    let pinned_other =
        PinnedKey::from_armored(&other.armored_public_key().unwrap(), "other").unwrap();
    assert_eq!(pinned.fingerprint(), signer.fingerprint());

    for armor in [true, false] {
        let sig = signer.sign_detached(&file, armor).unwrap();
        let ok = verify_detached(
            &data,
            &sig,
            &[pinned_other.clone(), pinned.clone()],
            "tarball",
        )
        .unwrap();
        assert_eq!(ok.primary_fingerprint, signer.fingerprint());
    }
    let sig = signer.sign_detached(&file, true).unwrap();
    // Streamed from the file: same answer.
    let ok =
        source_fetch::verify_detached_file(&file, &sig, std::slice::from_ref(&pinned)).unwrap();
    assert_eq!(ok.signing_fingerprint, signer.fingerprint());

    let mut tampered = data.clone();
    tampered[777] ^= 1;
    let e =
        verify_detached(&tampered, &sig, std::slice::from_ref(&pinned), "xen.tar.gz").unwrap_err();
    assert!(matches!(e, PgpError::BadSignature { .. }), "{e}");
    assert!(
        e.to_string().contains(signer.fingerprint()) && e.to_string().contains("xen.tar.gz"),
        "{e}"
    );

    let e = verify_detached(&data, b"", std::slice::from_ref(&pinned), "xen.tar.gz").unwrap_err();
    assert!(matches!(e, PgpError::MissingSignature { .. }), "{e}");

    let e = verify_detached(
        &data,
        b"-----BEGIN PGP SIGNATURE-----\n\ngarbage\n",
        std::slice::from_ref(&pinned),
        "x",
    )
    .unwrap_err();
    assert!(matches!(e, PgpError::MalformedSignature { .. }), "{e}");

    let e = verify_detached(
        &data,
        &sig,
        std::slice::from_ref(&pinned_other),
        "xen.tar.gz",
    )
    .unwrap_err();
    assert!(matches!(e, PgpError::UnknownSigner { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&signer.fingerprint()[24..]) && msg.contains(other.fingerprint()),
        "names both: {msg}"
    );
}

#[test]
fn git_signed_tag_verifies_and_tampering_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let key = GpgKey::generate("Tagger <tagger@example.org>", "ed25519").unwrap();
    let repo = tmp.path().join("r");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(&repo)
            .env("GNUPGHOME", key.home())
            .args(["-c", "user.name=T", "-c", "user.email=tagger@example.org"])
            .args(["-c", &format!("user.signingkey={}", key.fingerprint())])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    std::fs::create_dir(&repo).unwrap();
    git(&["init", "-q"]);
    std::fs::write(repo.join("version"), "4.17.4\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    git(&["tag", "-s", "-m", "v4.17.4-5", "v4.17.4-5"]);
    git(&["tag", "-a", "-m", "unsigned", "v4.17.4-6"]);
    let raw = git(&["cat-file", "tag", "v4.17.4-5"]);
    let pinned = PinnedKey::from_armored(&key.armored_public_key().unwrap(), "tagger").unwrap();
    let ok = verify_git_tag(&raw, std::slice::from_ref(&pinned), "tag v4.17.4-5").unwrap();
    assert_eq!(ok.primary_fingerprint, key.fingerprint());

    let text = String::from_utf8(raw.clone())
        .unwrap()
        .replace("v4.17.4-5\n", "v4.17.4-9\n");
    let e = verify_git_tag(
        text.as_bytes(),
        std::slice::from_ref(&pinned),
        "tag v4.17.4-5",
    )
    .unwrap_err();
    assert!(matches!(e, PgpError::BadSignature { .. }), "{e}");

    let unsigned = git(&["cat-file", "tag", "v4.17.4-6"]);
    let e = verify_git_tag(&unsigned, &[pinned], "tag v4.17.4-6").unwrap_err();
    assert!(
        matches!(e, PgpError::MissingSignature { .. }) && e.to_string().contains("v4.17.4-6"),
        "{e}"
    );
}
