//! Shared entry point of the cargo-fuzz target and the stable random-input test: every parser
//! of untrusted input must return an error, never panic.

use std::path::Path;

/// Runs all parsers on `data`.
pub fn parse_everything(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::defs::load::parse_one(Path::new("/nonexistent"), Path::new("fuzz.toml"), &text);
    let _ = crate::defs::spec::parse_series(Path::new("xen.spec.in"), &text);
    let _ = xen_config::dotconfig::diff(data, b"CONFIG_X=y\n");
    let _ = crate::defs::version::QubesVersion::parse(text.trim());
    let _ = crate::defs::load::line_col(&text, data.len() / 2);
}
