#![no_main]
//! Arbitrary bytes as a git tag object and as the signature packets in it, against the real
//! Qubes key: parsing and verification answer or refuse, never panic. The stable-Rust twin,
//! with properties about what may verify, is tests/tag_random.rs.
use libfuzzer_sys::fuzz_target;
use source_fetch::{verify_detached, verify_signed_tag, PinnedKey, TagObject};

const KEY: &str = include_str!("../../../../shared/fixtures/upstream/qubes-marmarek-key.asc");
const FPR: &str = "0064428F455451B3EBE78A7F063938BA42CFA724";

fn key() -> &'static PinnedKey {
    static K: std::sync::OnceLock<PinnedKey> = std::sync::OnceLock::new();
    K.get_or_init(|| PinnedKey::pinned(KEY, "qubes key", FPR).expect("the real key loads"))
}

fuzz_target!(|data: &[u8]| {
    let keys = std::slice::from_ref(key());
    if let Ok(t) = TagObject::parse(data) {
        assert!(t.payload.len() <= data.len());
        if let Some(sig) = t.signature {
            let _ = verify_detached(t.payload, sig, keys, "fuzz");
        }
    }
    let _ = verify_signed_tag(data, "v4.17.4-5", &"0".repeat(40), keys, "fuzz");
    let _ = verify_detached(b"data", data, keys, "fuzz");
});
