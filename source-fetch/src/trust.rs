//! What is trusted and why: the one place the trust policy is written down (the README's
//! "What is trusted and why" summarises it). The code that enforces each rule is linked.
//!
//! # Trust roots
//! Only the public keys pinned in the definitions (`definitions/keys/<FINGERPRINT>.asc`, each
//! file checked to hold the key its name pins) are trusted. No keyring, keyserver, web of
//! trust or third-party certification is consulted: a mirror, a URL rewrite or the network can
//! change bytes, never what counts as a valid signer.
//!
//! # A signature binds content to a name and a version
//! A valid signature alone says "the key holder signed these bytes once", not "these bytes are
//! the release you asked for": an old release's signed tag served under a newer ref, or an old
//! tarball under a newer file name, verifies perfectly (a replay/downgrade by a stale or
//! compromised mirror). So every signed thing is also bound to what was asked for:
//! - a signed git tag is accepted only when its own `tag` header equals the requested tag name,
//!   its `type` is `commit` and its `object` is the commit the ref resolves to
//!   ([`verify_signed_tag`]); the header is inside the signed payload, the ref name is not;
//! - upstream Xen's tree must say the target version in `xen/Makefile` (`XEN_VERSION`,
//!   `XEN_SUBVERSION`, `XEN_EXTRAVERSION`), whether it came from the git tag or from the
//!   release tarball (a tarball's signature binds bytes, not a file name);
//! - Qubes data must say the target in its `version` and `rel` files, besides its tag header.
//!
//! A tag refused for any reason is dropped from the git cache, so once the mirror is fixed the
//! next run fetches it again instead of failing on stale bytes; the same holds for cached
//! tarballs whose signature does not verify.
//!
//! # OpenPGP policy ([`crate::openpgp`])
//! - Data signatures (tags, tarballs) made with MD5, SHA-1 or RIPEMD-160 are refused: SHA-1
//!   collisions are practical (SHAttered, 2017; chosen-prefix, 2020), so a SHA-1 data signature
//!   can be transplanted onto other bytes. Only binary or text document signatures count.
//! - The signing key or subkey must be valid *at the signature's creation time*: created
//!   before it, not expired then (the expiry of the newest valid self-signature or subkey
//!   binding, as gpg reads it), not revoked. A revocation whose reason says the key was
//!   superseded or retired invalidates signatures made from its date on; any other revocation
//!   (compromise, or no reason) invalidates every signature, since a stolen key can backdate.
//!   A signature made before a key expired stays good: releases are signed once and verified
//!   for years.
//! - A subkey signs only when its newest binding carries the signing flag and, for a signing
//!   subkey, a valid back-signature (else someone else's signing subkey could be claimed); a
//!   primary key whose self-signature states key flags must state the signing flag. Subkeys
//!   with no valid binding are ignored.
//! - A signature whose own expiry has passed, or that claims to be made in the future (more
//!   than a day of clock skew), is refused.
//! - Self-signatures (a key's certification of its own user IDs and subkeys) made with SHA-1
//!   are refused for keys loaded without a pin ([`crate::PinnedKey::from_armored`]) and allowed
//!   for keys pinned by fingerprint ([`crate::PinnedKey::pinned`]), with one warning per key
//!   per process: the Xen release key is RSA-2048 from 2010 with SHA-1 self-signatures, and
//!   a forged self-signature can only add user IDs or subkeys to a key the user already chose
//!   to trust by its fingerprint, not make a new signer.
//!
//! # Nothing is parsed before it is verified
//! A release tarball whose sha256 is not pinned yet is downloaded whole (hashed while it
//! streams), and its signature is verified before any decompressor or tar parser sees its
//! bytes. When the sha256 is pinned, the hash is checked as the bytes stream in, so unpacking
//! may run beside the signature check. Archives never write outside their target.
//! Git objects are checked against their ids by git itself; the tag object is read, split and
//! verified before the tree it names is exported.
//!
//! # Unsigned data
//! A Qubes stream pinned to a commit of an unmerged branch has no signed tag: it is pinned by
//! commit id alone (git checks objects against ids), and every update and report says it is
//! unsigned.
//!
//! # Network
//! Every HTTP read and git transfer stops after a period without progress, and git operations
//! also after a total cap the user sets; retries are bounded.

use crate::openpgp::{self, PgpError, PinnedKey, Verified};

/// A signed tag could not be bound to what was asked for, or its signature failed.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The tag object does not parse as git writes tags.
    #[error("{what}: malformed tag object: {why}")]
    Malformed { what: String, why: String },
    /// The signed `tag` header names another tag: a replayed signed tag.
    #[error("{what}: the signed tag object is named `{found}`, not `{expected}`: the server serves another release's signed tag under this name (a stale or compromised mirror); refusing it")]
    WrongName {
        what: String,
        found: String,
        expected: String,
    },
    /// The signed tag names another object than the ref resolves to.
    #[error("{what}: the signed tag object names {found}, but the ref resolves to commit {expected}; refusing it")]
    WrongObject {
        what: String,
        found: String,
        expected: String,
    },
    /// The signed tag names a tree, blob or another tag rather than a commit.
    #[error("{what}: the signed tag object names a {found}, expected a commit; refusing a tag of a {found}")]
    NotCommit { what: String, found: String },
    /// The signature failed the OpenPGP policy.
    #[error(transparent)]
    Pgp(#[from] PgpError),
}

/// An annotated git tag object, split as git writes it: headers, message, signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagObject<'a> {
    /// The named object id (40 or 64 lowercase hex digits).
    pub object: &'a str,
    /// `commit`, `tree`, `blob` or `tag`.
    pub kind: &'a str,
    /// The tag's own name, as signed.
    pub tag: &'a str,
    /// The tagger line, absent in some very old tags.
    pub tagger: Option<&'a str>,
    /// Everything the signature covers: headers, blank line and message.
    pub payload: &'a [u8],
    /// The armored signature, when the tag is signed.
    pub signature: Option<&'a [u8]>,
}

impl<'a> TagObject<'a> {
    /// Parses `git cat-file tag` output strictly: the headers `object`, `type`, `tag` and
    /// optionally `tagger`, in that order and once each, then a blank line and the message.
    pub fn parse(raw: &'a [u8]) -> Result<Self, String> {
        let (payload, signature) = match openpgp::split_signed_tag(raw) {
            Some((p, s)) => (p, Some(s)),
            None => (raw, None),
        };
        let end = payload
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|p| p + 1)
            .or_else(|| payload.ends_with(b"\n").then_some(payload.len()))
            .ok_or("no header block ending in a newline")?;
        let head = std::str::from_utf8(&payload[..end])
            .map_err(|_| "the headers are not UTF-8".to_string())?;
        let mut lines = head.lines();
        let mut field = |name: &str| -> Result<&'a str, String> {
            let line = lines
                .next()
                .ok_or_else(|| format!("missing `{name}` header"))?;
            line.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("expected a `{name} ...` header, found {line:?}"))
        };
        let object = field("object")?;
        let kind = field("type")?;
        let tag = field("tag")?;
        let tagger = match lines.next() {
            None => None,
            Some(l) => Some(
                l.strip_prefix("tagger ")
                    .ok_or_else(|| format!("unexpected header {l:?} after `tag`"))?,
            ),
        };
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected header {extra:?}"));
        }
        if !(object.len() == 40 || object.len() == 64)
            || !object
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "object {object:?} is not a lowercase hex object id"
            ));
        }
        if !["commit", "tree", "blob", "tag"].contains(&kind) {
            return Err(format!("type {kind:?} is not an object type"));
        }
        Ok(Self {
            object,
            kind,
            tag,
            tagger,
            payload,
            signature,
        })
    }
}

/// Verifies the raw tag object of ref `refs/tags/<name>` against the pinned `keys` and binds
/// it: its signed `tag` header must be `name` and its `object` the `commit` the ref resolves
/// to. `what` names the tag and its URL in errors.
pub fn verify_signed_tag(
    raw: &[u8],
    name: &str,
    commit: &str,
    keys: &[PinnedKey],
    what: &str,
) -> Result<Verified, TagError> {
    let t = TagObject::parse(raw).map_err(|why| TagError::Malformed {
        what: what.to_owned(),
        why,
    })?;
    let signature = t.signature.ok_or_else(|| PgpError::MissingSignature {
        what: what.to_owned(),
    })?;
    let verified = openpgp::verify_detached(t.payload, signature, keys, what)?;
    if t.tag != name {
        return Err(TagError::WrongName {
            what: what.to_owned(),
            found: t.tag.to_owned(),
            expected: name.to_owned(),
        });
    }
    if t.kind != "commit" {
        return Err(TagError::NotCommit {
            what: what.to_owned(),
            found: t.kind.to_owned(),
        });
    }
    if t.object != commit {
        return Err(TagError::WrongObject {
            what: what.to_owned(),
            found: t.object.to_owned(),
            expected: commit.to_owned(),
        });
    }
    Ok(verified)
}
