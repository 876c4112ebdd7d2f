//! Fuzzes the Kconfig parser and the `.config` reader/evaluator together: the input is split
//! at the first NUL byte into a Kconfig file and a `.config`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (kconfig, config) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let _ = xen_config::fuzz_kconfig_and_config(kconfig, config);
});
