//! The spec parser on arbitrary input: it may reject, never panic (stable stand-in for a
//! cargo-fuzz target).

use images::ImageSpec;
use proptest::prelude::*;
use std::path::Path;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        let _ = ImageSpec::parse(&text, Path::new("fuzz.toml"), Path::new("."));
    }

    #[test]
    fn random_values_in_a_valid_shape_never_panic(
        name in "[a-z.\\-]{0,12}",
        size in prop_oneof![Just("\"guess\"".to_string()), any::<i64>().prop_map(|n| n.to_string()), "\"[0-9]{0,6}[KMGT]?i?B?\""],
        guid in "[0-9a-fA-F\\-]{0,40}",
        psize in prop_oneof![Just("\"rest\"".to_string()), any::<i64>().prop_map(|n| n.to_string())],
    ) {
        let text = format!(
            "name = {name:?}\nsize = {size}\nroot = {{ directory = \"t\" }}\ndisk-id = {guid:?}\n[[partition]]\nlabel = \"x\"\ntype = {guid:?}\nsize = {psize}\nfilesystem = \"ext4\"\ncontent = \"root\"\n"
        );
        let _ = ImageSpec::parse(&text, Path::new("fuzz.toml"), Path::new("."));
    }
}

#[test]
fn shipped_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/template.toml");
    let spec = ImageSpec::load(&path).unwrap();
    assert_eq!(spec.name, "guix-minimal");
    assert!(spec.qubes.rpm);
    assert_eq!(
        images::template::template_conf(&spec),
        "virt-mode=pvh\nkernel=\ngui=1\nqrexec=1\n"
    );
}
