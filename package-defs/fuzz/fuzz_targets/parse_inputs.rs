//! Feeds arbitrary bytes to every parser of untrusted input (definition TOML, xen.spec.in,
//! Kconfig .config, version strings). Run: `cargo +nightly fuzz run parse_inputs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    package_defs::fuzzing::parse_everything(data);
});
