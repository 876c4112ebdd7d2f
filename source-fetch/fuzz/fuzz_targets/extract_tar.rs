#![no_main]
//! Arbitrary bytes through the safe extractor: must return a value or an error, never panic, never
//! write outside the target directory.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("d");
    let _ = source_fetch::extract_stream(data, &dest, "fuzz");
    for e in std::fs::read_dir(tmp.path()).expect("read_dir") {
        assert_eq!(e.expect("entry").file_name(), "d");
    }
});
