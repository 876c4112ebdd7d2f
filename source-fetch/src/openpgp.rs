//! OpenPGP verification in Rust (rpgp, the `pgp` crate: pure Rust, no C, and it verifies keys whose
//! self-signatures use SHA-1 — the Xen release key does — which policy-driven libraries reject).
//! Only keys the caller loaded are trusted. The policy enforced here (hash algorithms, key and
//! subkey validity at the signature's time, signing flags, the SHA-1 self-signature allowance
//! for keys pinned by fingerprint) and its reasons are written down in [`crate::trust`].

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use pgp::composed::{Deserializable, SignedPublicKey, StandaloneSignature};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, PublicKeyTrait};

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
    /// The file does not hold the key its pin names.
    #[error("{origin}: holds key {found}, but its pin names {pinned}; replace the file with the pinned key")]
    NotPinned {
        origin: String,
        pinned: String,
        found: String,
    },
    /// A cryptographically valid signature that the policy refuses (see [`crate::trust`]).
    #[error("{what}: signature by {fingerprint} refused: {why}")]
    Refused {
        what: String,
        fingerprint: String,
        why: String,
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
    /// Validity of the primary key (index 0) and of each kept subkey (index i + 1).
    validity: Vec<Validity>,
}

/// What the self-signatures say about one (sub)key, for judging a signature at its time.
#[derive(Debug, Clone, Default)]
struct Validity {
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    can_sign: bool,
    /// A revocation for compromise or without a reason: no signature is good.
    hard_revoked: Option<String>,
    /// A revocation as superseded or retired: signatures made from then on are not good.
    soft_revoked: Option<(DateTime<Utc>, String)>,
}

/// Hash algorithms a data signature may use: collision-resistant ones only.
const DATA_HASHES: [HashAlgorithm; 6] = [
    HashAlgorithm::Sha224,
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha384,
    HashAlgorithm::Sha512,
    HashAlgorithm::Sha3_256,
    HashAlgorithm::Sha3_512,
];

/// Clock skew tolerated for signatures that claim a creation time in the future.
const FUTURE_SKEW: chrono::Duration = chrono::Duration::days(1);

/// Fingerprints whose SHA-1 self-signature warning was printed in this process.
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Fingerprint (uppercase hex) of the pinned primary key.
    pub primary_fingerprint: String,
    /// Fingerprint of the (sub)key that made the signature.
    pub signing_fingerprint: String,
    /// Hash algorithm of the signature, e.g. "SHA256".
    pub hash: String,
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn fpr(k: &impl KeyDetails) -> String {
    hex_upper(k.fingerprint().as_bytes())
}

impl PinnedKey {
    /// Parse one ASCII-armored public key under the strict policy: self-signatures made with
    /// SHA-1 do not count. `origin` (a path or name) appears in errors.
    pub fn from_armored(text: &str, origin: &str) -> Result<Self, PgpError> {
        Self::load(text, origin, false)
    }

    /// Parse one ASCII-armored public key pinned by `fingerprint` (uppercase hex): the key
    /// must have that fingerprint, and because the user chose it by fingerprint its SHA-1
    /// self-signatures count, with one warning per key per process.
    pub fn pinned(text: &str, origin: &str, fingerprint: &str) -> Result<Self, PgpError> {
        let k = Self::load(text, origin, true)?;
        if !k.fingerprint().eq_ignore_ascii_case(fingerprint) {
            return Err(PgpError::NotPinned {
                origin: origin.to_owned(),
                pinned: fingerprint.to_owned(),
                found: k.fingerprint(),
            });
        }
        // Once per key and process, however many files or definitions load it.
        let fresh = WARNED
            .lock()
            .map(|mut seen| seen.insert(k.fingerprint()))
            .unwrap_or(true);
        if fresh {
            for w in &k.warnings {
                tracing::warn!("{w}");
            }
        }
        Ok(k)
    }

    /// [`PinnedKey::pinned`] from a file.
    pub fn pinned_file(path: &Path, fingerprint: &str) -> Result<Self, PgpError> {
        let origin = path.display().to_string();
        Self::pinned(&read_key_file(path)?, &origin, fingerprint)
    }

    fn load(text: &str, origin: &str, allow_sha1: bool) -> Result<Self, PgpError> {
        let (key, _) = SignedPublicKey::from_string(text).map_err(|e| PgpError::BadKey {
            origin: origin.to_owned(),
            why: e.to_string(),
        })?;
        let (key, warnings, validity) = check_self_signatures(key, origin, allow_sha1)?;
        Ok(Self {
            key,
            origin: origin.to_owned(),
            warnings,
            validity,
        })
    }

    /// Read and parse an armored key file (strict policy, as [`PinnedKey::from_armored`]).
    pub fn from_file(path: &Path) -> Result<Self, PgpError> {
        let origin = path.display().to_string();
        Self::from_armored(&read_key_file(path)?, &origin)
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

    /// Warnings found while loading (SHA-1 self-signatures, subkeys ignored).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the key came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

fn read_key_file(path: &Path) -> Result<String, PgpError> {
    std::fs::read_to_string(path).map_err(|e| PgpError::BadKey {
        origin: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Checks a data signature against the policy before its bytes are hashed: document type,
/// hash algorithm, creation and expiry times, and the signing (sub)key's validity then.
fn check_data_signature(sig: &Signature, v: &Validity) -> Result<(), String> {
    match sig.typ() {
        Some(SignatureType::Binary | SignatureType::Text) => {}
        t => return Err(format!("it is a {t:?} signature, not a document signature")),
    }
    match sig.hash_alg() {
        Some(h) if DATA_HASHES.contains(&h) => {}
        h => {
            return Err(format!(
                "it is made with {}, which has practical collisions or is unknown; data signatures need SHA-256 or stronger",
                h.map(|h| format!("{h:?}").to_uppercase())
                    .unwrap_or_else(|| "no known hash".into())
            ))
        }
    }
    let made = *sig
        .created()
        .ok_or("it carries no creation time (a signature must say when it was made)")?;
    let now = Utc::now();
    if made > now + FUTURE_SKEW {
        return Err(format!("it claims to be made in the future ({made})"));
    }
    if let Some(d) = sig.signature_expiration_time() {
        if !d.is_zero() && made + *d <= now {
            return Err(format!("the signature itself expired on {}", made + *d));
        }
    }
    if made < v.created {
        return Err(format!(
            "it is dated {made}, before the key was created ({})",
            v.created
        ));
    }
    if let Some(why) = &v.hard_revoked {
        return Err(format!(
            "the key is revoked ({why}), so none of its signatures count"
        ));
    }
    if let Some((at, why)) = &v.soft_revoked {
        if made >= *at {
            return Err(format!(
                "the key was revoked on {at} ({why}), and the signature is dated {made}"
            ));
        }
    }
    if let Some(exp) = v.expires {
        if made >= exp {
            return Err(format!(
                "the key expired on {exp}, and the signature is dated {made}"
            ));
        }
    }
    if !v.can_sign {
        return Err("the key is not flagged for signing (key flags lack \"sign\")".into());
    }
    Ok(())
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
        // None = the primary key, Some(i) = subkey i (validity index i + 1).
        let mut candidates: Vec<(String, Option<usize>)> = vec![(primary.clone(), None)];
        for (i, s) in pk.key.public_subkeys.iter().enumerate() {
            candidates.push((fpr(&s.key), Some(i)));
        }
        for (fp, which) in candidates {
            if !issuers.is_empty() && !matches(&fp) {
                continue;
            }
            let validity = &pk.validity[which.map_or(0, |i| i + 1)];
            check_data_signature(&sig, validity).map_err(|why| PgpError::Refused {
                what: what.to_owned(),
                fingerprint: fp.clone(),
                why,
            })?;
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
                    // The key's own warnings were printed once, when it was loaded.
                    Ok(Verified {
                        primary_fingerprint: primary,
                        signing_fingerprint: fp,
                        hash,
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
    let mut last = None;
    // The signature starts at a line beginning, and it is the last such line (git's
    // parse_signed_buffer): a message may quote a signature block before the real one.
    while pos < raw.len() {
        if raw[pos..].starts_with(MARK) {
            last = Some(pos);
        }
        match raw[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos += n + 1,
            None => break,
        }
    }
    last.map(|p| (&raw[..p], &raw[p..]))
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

fn is_weak_hash(s: &Signature) -> bool {
    matches!(
        s.hash_alg(),
        Some(HashAlgorithm::Sha1 | HashAlgorithm::Md5 | HashAlgorithm::Ripemd160)
    )
}

fn has_key_flags(s: &Signature) -> bool {
    s.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

fn created(s: &Signature) -> DateTime<Utc> {
    s.created().copied().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Applies a verified revocation to `v`: superseded or retired keys stop signing at the
/// revocation's time; any other reason (compromise, none, unknown) revokes every signature.
fn revoke(v: &mut Validity, s: &Signature) {
    let reason = s
        .revocation_reason_string()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .filter(|r| !r.is_empty());
    match s.revocation_reason_code() {
        Some(c @ (RevocationCode::KeySuperseded | RevocationCode::KeyRetired)) => {
            let why = format!(
                "{c:?}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
            let at = created(s);
            if v.soft_revoked.as_ref().is_none_or(|(t, _)| at < *t) {
                v.soft_revoked = Some((at, why));
            }
        }
        c => {
            v.hard_revoked = Some(format!(
                "{}{}",
                c.map(|c| format!("{c:?}"))
                    .unwrap_or_else(|| "no reason given".into()),
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ));
        }
    }
}

/// Expiry from the newest self-signature: its key expiration time counts from the key's creation.
fn expiry(created_at: DateTime<Utc>, newest: Option<&Signature>) -> Option<DateTime<Utc>> {
    newest
        .and_then(|s| s.key_expiration_time())
        .filter(|d| !d.is_zero())
        .map(|d| created_at + *d)
}

/// Check the key's own certifications (third-party certifications, which the Xen key carries,
/// are ignored: trust comes from pinning, not the web of trust) and work out, from the newest
/// self-signatures, when the primary key and each subkey expire, whether they may sign, and
/// their revocations. At least one user ID must carry a valid self-signature; subkeys without
/// a valid binding (and back-signature, for signing subkeys) are dropped with a warning.
/// SHA-1 self-signatures count only with `allow_sha1` (keys pinned by fingerprint).
fn check_self_signatures(
    mut key: SignedPublicKey,
    origin: &str,
    allow_sha1: bool,
) -> Result<(SignedPublicKey, Vec<String>, Vec<Validity>), PgpError> {
    let fp = fpr(&key.primary_key);
    let own_id = key.primary_key.key_id();
    let own_fp = key.primary_key.fingerprint();
    let is_self = |s: &Signature| {
        s.issuer_fingerprint().iter().any(|f| **f == own_fp)
            || s.issuer().iter().any(|k| **k == own_id)
    };
    let mut sha1 = 0usize;
    let mut refused_sha1 = 0usize;
    let mut last_err = String::from("no self-signed user ID");
    // Newest valid self-signature that speaks for the primary key (direct or user ID).
    let mut newest: Option<Signature> = None;
    let consider = |s: &Signature, newest: &mut Option<Signature>| {
        if newest.as_ref().is_none_or(|n| created(s) > created(n)) {
            *newest = Some(s.clone());
        }
    };
    let mut valid_uids = 0usize;
    for user in &key.details.users {
        for sig in user.signatures.iter().filter(|s| is_self(s)) {
            if !sig.is_certification() {
                continue;
            }
            if is_weak_hash(sig) && !allow_sha1 {
                refused_sha1 += 1;
                last_err =
                    "its self-signatures use SHA-1, allowed only for a key pinned by fingerprint"
                        .into();
                continue;
            }
            match sig.verify_certification(&key.primary_key, pgp::types::Tag::UserId, &user.id) {
                Ok(()) => {
                    valid_uids += 1;
                    if is_weak_hash(sig) {
                        sha1 += 1;
                    }
                    consider(sig, &mut newest);
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
    let usable = |s: &Signature| allow_sha1 || !is_weak_hash(s);
    for sig in &key.details.direct_signatures {
        if is_self(sig) && usable(sig) && sig.verify_key(&key.primary_key).is_ok() {
            consider(sig, &mut newest);
        }
    }
    let primary_created = *key.primary_key.created_at();
    let mut primary = Validity {
        created: primary_created,
        expires: expiry(primary_created, newest.as_ref()),
        // A key whose self-signature states key flags signs only when they say so.
        can_sign: newest
            .as_ref()
            .is_none_or(|s| !has_key_flags(s) || s.key_flags().sign()),
        ..Validity::default()
    };
    for sig in &key.details.revocation_signatures {
        if is_self(sig)
            && sig.typ() == Some(SignatureType::KeyRevocation)
            && sig.verify_key(&key.primary_key).is_ok()
        {
            revoke(&mut primary, sig);
        }
    }

    let mut warnings = Vec::new();
    let mut validity = vec![primary];
    let primary_key = key.primary_key.clone();
    key.public_subkeys.retain(|sub| {
        let sub_fp = fpr(&sub.key);
        let bindings = sub.signatures.iter().filter(|s| {
            is_self(s)
                && s.typ() == Some(SignatureType::SubkeyBinding)
                && usable(s)
                && s.verify_subkey_binding(&primary_key, &sub.key).is_ok()
        });
        let Some(binding) = bindings.max_by_key(|s| created(s)) else {
            warnings.push(format!(
                "OpenPGP key {origin} ({fp}): subkey {sub_fp} has no valid binding; ignored"
            ));
            return false;
        };
        if is_weak_hash(binding) {
            sha1 += 1;
        }
        let flagged = has_key_flags(binding) && binding.key_flags().sign();
        // A signing subkey must sign back (RFC 9580 5.2.1): else anyone's signing subkey
        // could be claimed.
        let back_signed = binding.embedded_signature().is_some_and(|b| {
            usable(b) && b.verify_primary_key_binding(&sub.key, &primary_key).is_ok()
        });
        if flagged && !back_signed {
            warnings.push(format!(
                "OpenPGP key {origin} ({fp}): signing subkey {sub_fp} has no valid back-signature; ignored"
            ));
            return false;
        }
        let sub_created = *sub.key.created_at();
        let mut v = Validity {
            created: sub_created,
            expires: expiry(sub_created, Some(binding)),
            can_sign: flagged,
            ..Validity::default()
        };
        for sig in &sub.signatures {
            if is_self(sig)
                && sig.typ() == Some(SignatureType::SubkeyRevocation)
                && sig.verify_subkey_binding(&primary_key, &sub.key).is_ok()
            {
                revoke(&mut v, sig);
            }
        }
        validity.push(v);
        true
    });
    // A subkey is only as good as its primary key: the primary's revocation or expiry ends the
    // subkey's signatures too (revoking a compromised primary must not leave its subkeys live).
    let primary = validity[0].clone();
    for v in validity.iter_mut().skip(1) {
        if v.hard_revoked.is_none() {
            v.hard_revoked = primary.hard_revoked.clone();
        }
        if let Some((at, why)) = &primary.soft_revoked {
            if v.soft_revoked.as_ref().is_none_or(|(t, _)| at < t) {
                v.soft_revoked = Some((*at, format!("primary key: {why}")));
            }
        }
        v.expires = match (v.expires, primary.expires) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    if sha1 > 0 {
        warnings.push(format!(
            "OpenPGP key {origin} ({fp}): {sha1} self-signature(s) use SHA-1; accepted because the key is pinned by fingerprint"
        ));
    }
    if refused_sha1 > 0 {
        warnings.push(format!(
            "OpenPGP key {origin} ({fp}): {refused_sha1} SHA-1 self-signature(s) ignored (pin the key by fingerprint to accept them)"
        ));
    }
    Ok((key, warnings, validity))
}
