#![no_main]
//! Arbitrary text through the digest parser: a value that round-trips, or an error.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(d) = content_hash::Sha256Digest::parse(s) {
        assert_eq!(content_hash::Sha256Digest::parse(&d.to_nix_base32()).ok(), Some(d));
    }
});
