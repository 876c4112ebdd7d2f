//! Arbitrary bytes as xenstored replies: the client must return errors, never panic or hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xenstore_client::fuzzing::replies(data);
});
