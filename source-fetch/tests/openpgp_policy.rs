//! The OpenPGP policy of `source_fetch::trust`, case by case, with keys and signatures real
//! gpg makes in the past (`--faked-system-time`), and the real Xen and Qubes keys on the real
//! signed tags of `../shared/fixtures/git/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use source_fetch::{verify_detached, verify_signed_tag, PgpError, PinnedKey, TagError};

/// 2020-01-01T00:00:00Z: every test key is made then, so "after expiry" is still in the past.
const T0: i64 = 1_577_836_800;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const DATA: &[u8] = b"xen-4.17.4.tar.gz, or any document\n";

/// A throw-away gpg home whose key is created at `T0`.
struct Gpg {
    home: tempfile::TempDir,
    primary: String,
}

impl Gpg {
    fn new(algo: &str) -> Self {
        let home = tempfile::Builder::new().prefix("gpg-").tempdir().unwrap();
        let mut g = Gpg {
            home,
            primary: String::new(),
        };
        g.run(
            Some(T0),
            &[
                "--quick-gen-key",
                "Policy Test <p@example.org>",
                algo,
                "sign",
                "never",
            ],
        );
        g.primary = g.fingerprints()[0].clone();
        g
    }

    fn cmd(&self, at: Option<i64>) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", ""]);
        if let Some(t) = at {
            c.arg(format!("--faked-system-time={t}!"));
        }
        c
    }

    fn run(&self, at: Option<i64>, args: &[&str]) -> Vec<u8> {
        let out = self
            .cmd(at)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `gpg --edit-key` driven by `commands` (one per line), at time `at`.
    fn edit(&self, at: i64, commands: &str) {
        use std::io::Write;
        let mut child = self
            .cmd(Some(at))
            .args(["--command-fd", "0", "--edit-key", &self.primary])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Primary first, then subkeys in the order they were added.
    fn fingerprints(&self) -> Vec<String> {
        let out = self.run(None, &["--with-colons", "--list-keys"]);
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .filter_map(|l| l.split(':').nth(9).map(str::to_owned))
            .collect()
    }

    /// Adds a signing subkey at time `at`; returns its fingerprint.
    fn add_signing_subkey(&self, at: i64) -> String {
        self.run(
            Some(at),
            &["--quick-add-key", &self.primary, "ed25519", "sign", "never"],
        );
        self.fingerprints().pop().unwrap()
    }

    /// A detached signature over `DATA` by `signer` (a fingerprint; `!` forces that subkey).
    fn sign(&self, signer: &str, at: i64, extra: &[&str]) -> Vec<u8> {
        let file = self.home.path().join("data");
        std::fs::write(&file, DATA).unwrap();
        let user = format!("{signer}!");
        let mut args = vec![
            "--local-user",
            &user,
            "--detach-sign",
            "--armor",
            "--output",
            "-",
        ];
        args.extend_from_slice(extra);
        let f = file.to_string_lossy().into_owned();
        args.push(&f);
        self.run(Some(at), &args)
    }

    fn key(&self) -> PinnedKey {
        let armored = self.run(None, &["--armor", "--export", &self.primary]);
        PinnedKey::from_armored(&String::from_utf8(armored).unwrap(), "test key").unwrap()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn verify(key: &PinnedKey, sig: &[u8]) -> Result<source_fetch::Verified, PgpError> {
    verify_detached(DATA, sig, std::slice::from_ref(key), "test document")
}

/// The signature is refused by the policy, and the reason says `why`.
fn refused(key: &PinnedKey, sig: &[u8], why: &str) {
    match verify(key, sig) {
        Err(e @ PgpError::Refused { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(why) && msg.contains("test document"), "{msg}");
        }
        other => panic!("expected a refusal ({why}), got {other:?}"),
    }
}

#[test]
fn sha1_data_signatures_are_refused_sha256_accepted() {
    let g = Gpg::new("rsa2048");
    let sha1 = g.sign(&g.primary, T0 + HOUR, &["--digest-algo", "SHA1"]);
    let sha256 = g.sign(&g.primary, T0 + HOUR, &["--digest-algo", "SHA256"]);
    let key = g.key();
    refused(&key, &sha1, "SHA1");
    assert_eq!(verify(&key, &sha256).unwrap().hash, "SHA256");
}

#[test]
fn an_expired_key_signs_only_before_it_expired() {
    let g = Gpg::new("ed25519");
    let before = g.sign(&g.primary, T0 + HOUR, &[]);
    let after = g.sign(&g.primary, T0 + 3 * DAY, &[]);
    // Made at T0 + 1 day: the key expires at T0 + 2 days.
    g.run(Some(T0 + DAY), &["--quick-set-expire", &g.primary, "1d"]);
    let key = g.key();
    verify(&key, &before).unwrap();
    refused(&key, &after, "expired");
}

#[test]
fn an_expired_subkey_signs_only_before_it_expired() {
    let g = Gpg::new("ed25519");
    let sub = g.add_signing_subkey(T0 + 60);
    let before = g.sign(&sub, T0 + HOUR, &[]);
    let after = g.sign(&sub, T0 + 3 * DAY, &[]);
    g.run(
        Some(T0 + DAY),
        &["--quick-set-expire", &g.primary, "1d", &sub],
    );
    let key = g.key();
    assert_eq!(verify(&key, &before).unwrap().signing_fingerprint, sub);
    refused(&key, &after, "expired");
    // The primary key itself did not expire.
    verify(&key, &g.sign(&g.primary, T0 + 3 * DAY, &[])).unwrap();
}

#[test]
fn a_revoked_key_signs_nothing() {
    let g = Gpg::new("ed25519");
    let sig = g.sign(&g.primary, T0 + HOUR, &[]);
    verify(&g.key(), &sig).unwrap();
    // gpg's own revocation certificate (no reason given: the key may have signed anything).
    let cert = g
        .home
        .path()
        .join(format!("openpgp-revocs.d/{}.rev", g.primary));
    let text = std::fs::read_to_string(&cert)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let rev = g.home.path().join("rev.asc");
    std::fs::write(&rev, text).unwrap();
    g.run(Some(T0 + DAY), &["--import", &rev.to_string_lossy()]);
    refused(&g.key(), &sig, "revoked");
}

#[test]
fn revoking_the_primary_key_ends_its_subkeys_signatures() {
    let g = Gpg::new("ed25519");
    let sub = g.add_signing_subkey(T0 + 60);
    let sig = g.sign(&sub, T0 + HOUR, &[]);
    assert_eq!(verify(&g.key(), &sig).unwrap().signing_fingerprint, sub);
    // The primary key revoked (gpg's own certificate, no reason: compromised); the subkey
    // itself carries no revocation.
    let cert = g
        .home
        .path()
        .join(format!("openpgp-revocs.d/{}.rev", g.primary));
    let text = std::fs::read_to_string(&cert)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let rev = g.home.path().join("rev.asc");
    std::fs::write(&rev, text).unwrap();
    g.run(Some(T0 + DAY), &["--import", &rev.to_string_lossy()]);
    refused(&g.key(), &sig, "revoked");
}

#[test]
fn an_expired_primary_key_ends_its_subkeys_signatures() {
    let g = Gpg::new("ed25519");
    let sub = g.add_signing_subkey(T0 + 60);
    let before = g.sign(&sub, T0 + HOUR, &[]);
    let after = g.sign(&sub, T0 + 3 * DAY, &[]);
    // Only the primary key gets an expiry (T0 + 2 days); the subkey has none of its own.
    g.run(Some(T0 + DAY), &["--quick-set-expire", &g.primary, "1d"]);
    let key = g.key();
    assert_eq!(verify(&key, &before).unwrap().signing_fingerprint, sub);
    refused(&key, &after, "expired");
}

#[test]
fn a_compromised_subkey_signs_nothing_a_superseded_one_until_revoked() {
    let g = Gpg::new("ed25519");
    let compromised = g.add_signing_subkey(T0 + 60);
    let superseded = g.add_signing_subkey(T0 + 120);
    let by_compromised = g.sign(&compromised, T0 + HOUR, &[]);
    let early = g.sign(&superseded, T0 + HOUR, &[]);
    let late = g.sign(&superseded, T0 + 3 * DAY, &[]);
    let key = g.key();
    for s in [&by_compromised, &early, &late] {
        verify(&key, s).unwrap();
    }
    // revkey reasons: 1 = compromised, 2 = superseded.
    g.edit(T0 + DAY, "key 1\nrevkey\ny\n1\n\ny\nsave\n");
    g.edit(T0 + DAY, "key 2\nrevkey\ny\n2\n\ny\nsave\n");
    let key = g.key();
    refused(&key, &by_compromised, "revoked");
    verify(&key, &early).unwrap();
    refused(&key, &late, "revoked");
}

#[test]
fn a_subkey_without_the_signing_flag_is_refused() {
    let g = Gpg::new("ed25519");
    let sub = g.add_signing_subkey(T0 + 60);
    let sig = g.sign(&sub, T0 + HOUR, &[]);
    verify(&g.key(), &sig).unwrap();
    // Now an authentication-only subkey: its signatures no longer count.
    g.edit(T0 + DAY, "key 1\nchange-usage\nS\nA\nQ\nsave\n");
    refused(&g.key(), &sig, "not flagged for signing");
}

#[test]
fn signatures_from_the_future_are_refused() {
    let g = Gpg::new("ed25519");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sig = g.sign(&g.primary, now + 30 * DAY, &[]);
    refused(&g.key(), &sig, "future");
}

fn upstream() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

/// The raw tag object and commit of `tag` in the real repository packed in `tar`.
fn real_tag(dir: &Path, tar: &str, repo: &str, tag: &str) -> (Vec<u8>, String) {
    let git_dir = dir.join(repo);
    if !git_dir.exists() {
        let st = Command::new("tar")
            .arg("-xf")
            .arg(upstream().join("git").join(tar))
            .arg("-C")
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&git_dir)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let raw = git(&["cat-file", "tag", tag]);
    let commit = String::from_utf8(git(&["rev-parse", &format!("{tag}^{{commit}}")])).unwrap();
    (raw, commit.trim().to_string())
}

#[test]
fn the_real_keys_verify_the_real_tags_bound_to_their_names() {
    let keys = upstream().join("upstream");
    let xen_fpr = "23E3222C145F4475FA8060A783FE14C957E82BD9";
    let qubes_fpr = "0064428F455451B3EBE78A7F063938BA42CFA724";
    // The Xen key's self-signatures are SHA-1: refused unless it is pinned by fingerprint.
    let e = PinnedKey::from_file(&keys.join("xen.org-key.asc")).unwrap_err();
    assert!(
        e.to_string().contains("SHA-1") && e.to_string().contains(xen_fpr),
        "{e}"
    );
    let xen = PinnedKey::pinned_file(&keys.join("xen.org-key.asc"), xen_fpr).unwrap();
    assert!(
        xen.warnings().iter().any(|w| w.contains("SHA-1")),
        "{:?}",
        xen.warnings()
    );
    let e = PinnedKey::pinned_file(&keys.join("xen.org-key.asc"), qubes_fpr).unwrap_err();
    assert!(matches!(e, PgpError::NotPinned { .. }), "{e}");
    let qubes = PinnedKey::pinned_file(&keys.join("qubes-marmarek-key.asc"), qubes_fpr).unwrap();
    assert!(qubes.warnings().is_empty(), "{:?}", qubes.warnings());

    let tmp = tempfile::tempdir().unwrap();
    for (tar, repo, key, tags) in [
        (
            "xen.git.tar",
            "xen.git",
            &xen,
            ["RELEASE-4.17.4", "RELEASE-4.17.6", "RELEASE-4.19.4"],
        ),
        (
            "qubes-vmm-xen.git.tar",
            "qubes-vmm-xen.git",
            &qubes,
            ["v4.17.4-5", "v4.17.6-6", "v4.19.4-9"],
        ),
    ] {
        let keys = std::slice::from_ref(key);
        for tag in tags {
            let (raw, commit) = real_tag(tmp.path(), tar, repo, tag);
            let v = verify_signed_tag(&raw, tag, &commit, keys, tag).unwrap();
            assert_eq!(v.primary_fingerprint, key.fingerprint());
        }
        // The oldest tag replayed under the newest name: the signature is good, the name not.
        let (raw, commit) = real_tag(tmp.path(), tar, repo, tags[0]);
        let e = verify_signed_tag(&raw, tags[1], &commit, keys, "replayed").unwrap_err();
        assert!(
            matches!(&e, TagError::WrongName { found, expected, .. } if found == tags[0] && expected == tags[1]),
            "{e}"
        );
        // ... or naming a commit the ref does not resolve to.
        let (_, other) = real_tag(tmp.path(), tar, repo, tags[1]);
        let e = verify_signed_tag(&raw, tags[0], &other, keys, "moved").unwrap_err();
        assert!(matches!(e, TagError::WrongObject { .. }), "{e}");
    }
}

/// A tag whose message quotes a signature block: the signature is the last such block, as git
/// reads it. Oracle: `git verify-tag` on the same tag accepts it, and so must we.
#[test]
fn a_tag_message_quoting_a_signature_block_still_verifies() {
    let g = Gpg::new("ed25519");
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=p@example.org"])
            .args(["-c", &format!("user.signingkey={}", g.primary)])
            .args(args)
            .current_dir(repo.path())
            .env("GNUPGHOME", g.home.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "c"]);
    let message = "release v1\n\nas announced:\n-----BEGIN PGP SIGNATURE-----\nquoted, not ours\n-----END PGP SIGNATURE-----\n";
    git(&["tag", "-s", "v1", "-m", message]);
    git(&["verify-tag", "v1"]);
    let commit = String::from_utf8(git(&["rev-parse", "v1^{commit}"])).unwrap();
    let raw = git(&["cat-file", "tag", "v1"]);
    let v = verify_signed_tag(&raw, "v1", commit.trim(), &[g.key()], "tag v1")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.signing_fingerprint, g.primary);
}
