//! The fuzz target's entry point on random and mutated inputs, on stable Rust in the normal
//! test suite: parsers report errors, never panic.

use proptest::prelude::*;

const SEED_TOML: &str = include_str!("../../definitions/xen.toml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        package_defs::fuzzing::parse_everything(&data);
    }

    #[test]
    fn mutated_definition(pos in 0usize..SEED_TOML.len(), len in 0usize..40, junk in "[\\[\\]=\"a-z0-9. \n#-]{0,12}") {
        let mut s = SEED_TOML.as_bytes().to_vec();
        let end = (pos + len).min(s.len());
        s.splice(pos..end, junk.bytes());
        package_defs::fuzzing::parse_everything(&s);
    }

    #[test]
    fn spec_like_lines(lines in proptest::collection::vec("(Patch[0-9]{0,6}:?[ \t]*[a-z0-9./%{}-]{0,12}|[A-Za-z]{0,8}: .{0,10})", 0..30)) {
        package_defs::fuzzing::parse_everything(lines.join("\n").as_bytes());
    }
}
