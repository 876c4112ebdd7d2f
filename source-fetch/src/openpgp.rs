//! OpenPGP verification in Rust (rpgp, the `pgp` crate: pure Rust, no C, and it verifies keys whose
//! self-signatures use SHA-1 — the Xen release key does — which policy-driven libraries reject).
//! Keys are pinned: only keys the caller loaded are trusted; a SHA-1 self-signature on a pinned
//! key is accepted with a warning.

use std::io::Cursor;
use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey, StandaloneSignature};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::Signature;
use pgp::types::KeyDetails;

/// A verification or key-loading failure. Names fingerprints and the origin.
#[derive(Debug, thiserror::Error)]
pub enum PgpError {
    /// The key file cannot be read or parsed.
    #[error("OpenPGP key {origin}: {why}; expected one ASCII-armored public key block")]
    BadKey { origin: String, why: String },
    /// The key's own self-signatures do not verify.
    #[error("OpenPGP key {origin} ({fingerprint}): its self-signatures do not verify: {why}")]
    InvalidKey {
        origin: String,
        fingerprint: String,
        why: String,
    },
    /// There is no signature where one is required.
    #[error("{what}: missing OpenPGP signature; refusing unverified data")]
    MissingSignature { what: String },
    /// The signature cannot be parsed.
    #[error("{what}: malformed OpenPGP signature: {why}")]
    MalformedSignature { what: String, why: String },
    /// Signed by a key that is not pinned.
    #[error("{what}: signed by unknown key {issuers:?}; pinned keys are {pinned:?} — pin the signer's key if it is legitimate")]
    UnknownSigner {
        what: String,
        issuers: Vec<String>,
        pinned: Vec<String>,
    },
    /// The pinned key made no such signature over these bytes.
    #[error("{what}: BAD signature from pinned key {fingerprint}: {why}; the data or signature was altered")]
    BadSignature {
        what: String,
        fingerprint: String,
        why: String,
    },
}

/// A trusted public key loaded from an armored file.
#[derive(Debug, Clone)]
pub struct PinnedKey {
    key: SignedPublicKey,
    origin: String,
    warnings: Vec<String>,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Fingerprint (uppercase hex) of the pinned primary key.
    pub primary_fingerprint: String,
    /// Fingerprint of the (sub)key that made the signature.
    pub signing_fingerprint: String,
    /// Hash algorithm of the signature, e.g. "SHA256".
    pub hash: String,
    /// Things worth telling the user (weak hashes).
    pub warnings: Vec<String>,
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn fpr(k: &impl KeyDetails) -> String {
    hex_upper(k.fingerprint().as_bytes())
}

impl PinnedKey {
    /// Parse one ASCII-armored public key; `origin` (a path or name) appears in errors.
    /// Checks the key's self-signatures and records a warning for each SHA-1 one.
    pub fn from_armored(text: &str, origin: &str) -> Result<Self, PgpError> {
        let (key, _) = SignedPublicKey::from_string(text).map_err(|e| PgpError::BadKey {
            origin: origin.to_owned(),
            why: e.to_string(),
        })?;
        let (key, warnings) = check_self_signatures(key, origin)?;
        Ok(Self {
            key,
            origin: origin.to_owned(),
            warnings,
        })
    }

    /// Read and parse an armored key file.
    pub fn from_file(path: &Path) -> Result<Self, PgpError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PgpError::BadKey {
            origin: origin.clone(),
            why: e.to_string(),
        })?;
        Self::from_armored(&text, &origin)
    }

    /// Primary key fingerprint, uppercase hex without spaces (as in `keys.tsv`).
    pub fn fingerprint(&self) -> String {
        fpr(&self.key.primary_key)
    }

    /// Subkey fingerprints.
    pub fn subkey_fingerprints(&self) -> Vec<String> {
        self.key
            .public_subkeys
            .iter()
            .map(|s| fpr(&s.key))
            .collect()
    }

    /// User IDs, lossily decoded.
    pub fn user_ids(&self) -> Vec<String> {
        self.key
            .details
            .users
            .iter()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
            .collect()
    }

    /// Warnings found while loading (SHA-1 self-signatures).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the key came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

fn parse_signature(sig: &[u8], what: &str) -> Result<Signature, PgpError> {
    let malformed = |why: String| PgpError::MalformedSignature {
        what: what.to_owned(),
        why,
    };
    if sig.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(PgpError::MissingSignature {
            what: what.to_owned(),
        });
    }
    let s = if sig.starts_with(b"-----BEGIN") {
        StandaloneSignature::from_armor_single(Cursor::new(sig))
            .map(|(s, _)| s)
            .map_err(|e| malformed(e.to_string()))?
    } else {
        StandaloneSignature::from_bytes(Cursor::new(sig)).map_err(|e| malformed(e.to_string()))?
    };
    Ok(s.signature)
}

/// Verify a detached signature (armored or binary) over `data` against the pinned `keys`.
/// `what` names the data in errors (a URL or file).
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keys: &[PinnedKey],
    what: &str,
) -> Result<Verified, PgpError> {
    verify_detached_reader(Cursor::new(data), signature, keys, what)
}

/// Verify a detached signature over a file, streamed (never loaded whole into memory).
pub fn verify_detached_file(
    path: &Path,
    signature: &[u8],
    keys: &[PinnedKey],
) -> Result<Verified, PgpError> {
    let what = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| PgpError::MalformedSignature {
        what: what.clone(),
        why: format!("cannot read the signed file: {e}"),
    })?;
    verify_detached_reader(
        std::io::BufReader::with_capacity(256 * 1024, f),
        signature,
        keys,
        &what,
    )
}

/// Verify a detached signature over everything `data` yields (read once).
pub fn verify_detached_reader<R: std::io::Read>(
    data: R,
    signature: &[u8],
    keys: &[PinnedKey],
    what: &str,
) -> Result<Verified, PgpError> {
    let mut data = Some(data);
    let sig = parse_signature(signature, what)?;
    let issuers: Vec<String> = sig
        .issuer_fingerprint()
        .iter()
        .map(|f| hex_upper(f.as_bytes()))
        .chain(sig.issuer().iter().map(|k| hex_upper(k.as_ref())))
        .collect();
    let matches = |cand: &str| issuers.iter().any(|i| cand.ends_with(i.as_str()));
    for pk in keys {
        let primary = pk.fingerprint();
        // None = the primary key, Some(i) = subkey i.
        let mut candidates: Vec<(String, Option<usize>)> = vec![(primary.clone(), None)];
        for (i, s) in pk.key.public_subkeys.iter().enumerate() {
            candidates.push((fpr(&s.key), Some(i)));
        }
        for (fp, which) in candidates {
            if !issuers.is_empty() && !matches(&fp) {
                continue;
            }
            // The issuer picks exactly one candidate key, so the data is read once.
            let Some(data) = data.take() else { break };
            let res = match which {
                None => sig.verify(&pk.key.primary_key, data),
                Some(i) => sig.verify(&pk.key.public_subkeys[i].key, data),
            };
            return match res {
                Ok(()) => {
                    let hash = sig
                        .hash_alg()
                        .map(|h| format!("{h:?}"))
                        .unwrap_or_default()
                        .to_uppercase();
                    let mut warnings = pk.warnings.clone();
                    if sig.hash_alg() == Some(HashAlgorithm::Sha1) {
                        warnings.push(format!("{what}: the signature itself uses SHA-1"));
                    }
                    Ok(Verified {
                        primary_fingerprint: primary,
                        signing_fingerprint: fp,
                        hash,
                        warnings,
                    })
                }
                Err(e) => Err(PgpError::BadSignature {
                    what: what.to_owned(),
                    fingerprint: fp,
                    why: e.to_string(),
                }),
            };
        }
    }
    Err(PgpError::UnknownSigner {
        what: what.to_owned(),
        issuers,
        pinned: keys.iter().map(PinnedKey::fingerprint).collect(),
    })
}

/// Split a raw git tag object (`git cat-file tag T`) into the signed payload and the armored
/// signature. Returns `None` when the tag is not signed.
pub fn split_signed_tag(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    const MARK: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
    let mut pos = 0;
    // The signature starts at a line beginning; search line by line like git does.
    while pos < raw.len() {
        if raw[pos..].starts_with(MARK) {
            return Some((&raw[..pos], &raw[pos..]));
        }
        match raw[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos += n + 1,
            None => break,
        }
    }
    None
}

/// Verify a git annotated tag object's embedded signature against the pinned `keys`.
/// `what` names the tag (e.g. "tag v4.17.4-5 of https://…").
pub fn verify_git_tag(
    raw_tag: &[u8],
    keys: &[PinnedKey],
    what: &str,
) -> Result<Verified, PgpError> {
    let (payload, sig) = split_signed_tag(raw_tag).ok_or_else(|| PgpError::MissingSignature {
        what: what.to_owned(),
    })?;
    verify_detached(payload, sig, keys, what)
}

/// Check the key's own certifications (third-party certifications, which the Xen key carries,
/// are ignored: trust comes from pinning, not the web of trust). At least one user ID must carry
/// a valid self-signature; subkeys without a valid binding are dropped. SHA-1 self-signatures are
/// accepted with a warning.
fn check_self_signatures(
    mut key: SignedPublicKey,
    origin: &str,
) -> Result<(SignedPublicKey, Vec<String>), PgpError> {
    let fp = fpr(&key.primary_key);
    let own_id = key.primary_key.key_id();
    let own_fp = key.primary_key.fingerprint();
    let is_self = |s: &Signature| {
        s.issuer_fingerprint().iter().any(|f| **f == own_fp)
            || s.issuer().iter().any(|k| **k == own_id)
    };
    let mut valid_uids = 0usize;
    let mut sha1 = 0usize;
    let mut last_err = String::from("no self-signed user ID");
    for user in &key.details.users {
        for sig in user.signatures.iter().filter(|s| is_self(s)) {
            match sig.verify_certification(&key.primary_key, pgp::types::Tag::UserId, &user.id) {
                Ok(()) => {
                    valid_uids += 1;
                    if sig.hash_alg() == Some(HashAlgorithm::Sha1) {
                        sha1 += 1;
                    }
                }
                Err(e) => last_err = e.to_string(),
            }
        }
    }
    if valid_uids == 0 {
        return Err(PgpError::InvalidKey {
            origin: origin.to_owned(),
            fingerprint: fp,
            why: last_err,
        });
    }
    let mut warnings = Vec::new();
    let primary = key.primary_key.clone();
    key.public_subkeys.retain(|sub| {
        let ok = sub
            .signatures
            .iter()
            .filter(|s| is_self(s))
            .any(|s| s.verify_subkey_binding(&primary, &sub.key).is_ok());
        if !ok {
            warnings.push(format!(
                "OpenPGP key {origin} ({fp}): subkey {} has no valid binding; ignored",
                fpr(&sub.key)
            ));
        }
        if sub
            .signatures
            .iter()
            .any(|s| s.hash_alg() == Some(HashAlgorithm::Sha1))
        {
            sha1 += 1;
        }
        ok
    });
    if sha1 > 0 {
        warnings.push(format!(
            "OpenPGP key {origin} ({fp}): {sha1} self-signature(s) use SHA-1; accepted because the key is pinned"
        ));
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok((key, warnings))
}
