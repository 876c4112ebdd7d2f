//! Tag objects and signature packets on random and mutated input, on stable Rust (the same
//! entry points as the `tag_object` fuzz target): parsers answer or refuse, never panic, and no
//! change to the signed bytes of the real Qubes v4.17.4-5 tag is ever accepted.

use std::process::Command;
use std::sync::OnceLock;

use pgp::composed::Deserializable;
use proptest::prelude::*;
use source_fetch::{verify_detached, verify_signed_tag, PinnedKey, TagObject};
use test_servers::real::shared_dir;

const TAG: &str = "v4.17.4-5";
const QUBES_FPR: &str = "0064428F455451B3EBE78A7F063938BA42CFA724";

struct Real {
    raw: Vec<u8>,
    commit: String,
    key: PinnedKey,
}

/// The real signed tag object and its commit, read once from the fixture repository.
fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let fixtures = shared_dir().join("fixtures");
        let tmp = tempfile::tempdir().unwrap();
        let st = Command::new("tar")
            .arg("-xf")
            .arg(fixtures.join("git/qubes-vmm-xen.git.tar"))
            .arg("-C")
            .arg(tmp.path())
            .status()
            .unwrap();
        assert!(st.success());
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .arg("-C")
                .arg(tmp.path().join("qubes-vmm-xen.git"))
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success());
            o.stdout
        };
        let raw = git(&["cat-file", "tag", TAG]);
        let commit = String::from_utf8(git(&["rev-parse", &format!("{TAG}^{{commit}}")]))
            .unwrap()
            .trim()
            .to_string();
        let key =
            PinnedKey::pinned_file(&fixtures.join("upstream/qubes-marmarek-key.asc"), QUBES_FPR)
                .unwrap();
        Real { raw, commit, key }
    })
}

fn check(raw: &[u8]) -> Result<source_fetch::Verified, source_fetch::TagError> {
    let r = real();
    verify_signed_tag(raw, TAG, &r.commit, std::slice::from_ref(&r.key), "random")
}

#[test]
fn the_real_tag_parses_and_verifies() {
    let r = real();
    let t = TagObject::parse(&r.raw).unwrap();
    assert_eq!(
        (t.object, t.kind, t.tag),
        (r.commit.as_str(), "commit", TAG)
    );
    assert!(t.tagger.unwrap().starts_with("Marek"));
    check(&r.raw).unwrap();
}

fn header_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._/+-]{1,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A tag written as git writes it parses back to the same fields and payload.
    #[test]
    fn well_formed_tags_round_trip(
        object in "[0-9a-f]{40}",
        kind in prop::sample::select(vec!["commit", "tree", "blob", "tag"]),
        name in header_value(),
        tagger in proptest::option::of("[A-Za-z <>@.0-9+-]{1,40}"),
        message in "[ -~\n]{0,200}",
    ) {
        let mut text = format!("object {object}\ntype {kind}\ntag {name}\n");
        if let Some(t) = &tagger {
            text += &format!("tagger {t}\n");
        }
        text += &format!("\n{message}");
        prop_assume!(!text.contains("-----BEGIN PGP SIGNATURE-----"));
        let t = TagObject::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(t.object, object.as_str());
        prop_assert_eq!(t.kind, kind);
        prop_assert_eq!(t.tag, name.as_str());
        prop_assert_eq!(t.tagger, tagger.as_deref());
        prop_assert_eq!(t.payload, text.as_bytes());
        prop_assert!(t.signature.is_none());
    }

    /// Arbitrary bytes as a tag object or a signature: an answer or an error, never a panic,
    /// and never a good signature.
    #[test]
    fn arbitrary_bytes_never_verify(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = TagObject::parse(&data);
        prop_assert!(check(&data).is_err());
        let r = real();
        prop_assert!(verify_detached(b"data", &data, std::slice::from_ref(&r.key), "random").is_err());
    }

    /// Any change to the signed part of the real tag is refused; a change to the signature
    /// block is refused or, if it only touched armor formatting, still verifies the same bytes.
    #[test]
    fn mutated_real_tag_never_verifies_other_bytes(
        pos in any::<prop::sample::Index>(),
        len in 0usize..8,
        junk in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let r = real();
        let mut raw = r.raw.clone();
        let at = pos.index(raw.len());
        let end = (at + len).min(raw.len());
        raw.splice(at..end, junk.iter().copied());
        prop_assume!(raw != r.raw);
        let original = TagObject::parse(&r.raw).unwrap().payload;
        if check(&raw).is_ok() {
            let t = TagObject::parse(&raw).unwrap();
            prop_assert_eq!(t.payload, original);
        }
    }

    /// The real signature as binary packets, mutated: refused or still over the same bytes,
    /// never a panic.
    #[test]
    fn mutated_signature_packets(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        flip_data in any::<bool>(),
    ) {
        let r = real();
        let t = TagObject::parse(&r.raw).unwrap();
        let armored = t.signature.unwrap();
        let (sig, _) = pgp::composed::StandaloneSignature::from_armor_single(armored).unwrap();
        let mut packets = Vec::new();
        pgp::ser::Serialize::to_writer(&sig, &mut packets).unwrap();
        let keys = std::slice::from_ref(&r.key);
        prop_assert!(verify_detached(t.payload, &packets, keys, "packets").is_ok());
        let mut data = t.payload.to_vec();
        if flip_data {
            let i = pos.index(data.len());
            prop_assume!(data[i] != byte);
            data[i] = byte;
            prop_assert!(verify_detached(&data, &packets, keys, "packets").is_err());
        } else {
            let i = pos.index(packets.len());
            packets[i] = byte;
            let _ = verify_detached(&data, &packets, keys, "packets");
        }
    }
}
