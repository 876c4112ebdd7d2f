//! content-hash against real peers: `sha256sum` for flat hashes and `nix-hash` (Debian nix-bin)
//! for NAR hashes, hex and base32, on trees the tests make.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use content_hash::{hash_file, hash_reader, nar_hash, HashingReader, HashingWriter, Sha256Digest};
use proptest::prelude::*;

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn nix_hash(path: &Path, base32: bool) -> String {
    let p = path.to_str().unwrap();
    if base32 {
        run("nix-hash", &["--type", "sha256", "--base32", p])
    } else {
        run("nix-hash", &["--type", "sha256", p])
    }
}

fn write_exec(p: &Path, data: &[u8]) {
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A tree with every node kind NAR knows, tricky names and sizes around the 8-byte padding.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir(root.join("empty-dir")).unwrap();
    for n in 0..17 {
        fs::write(root.join(format!("pad-{n}")), vec![b'x'; n]).unwrap();
    }
    fs::write(root.join("empty"), b"").unwrap();
    write_exec(&root.join("run.sh"), b"#!/bin/sh\necho hi\n");
    write_exec(&root.join("sub/deeper/tool"), b"\0\x01binary");
    fs::write(root.join("sub/ünïcødé-名前.txt"), "unicode ✓\n").unwrap();
    fs::write(root.join("B-upper"), b"sorted before a").unwrap();
    fs::write(root.join("a-lower"), b"after B").unwrap();
    fs::write(
        root.join("sub/big.bin"),
        (0..300_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    symlink("sub/big.bin", root.join("link-rel")).unwrap();
    symlink("/nonexistent/absolute", root.join("link-dangling")).unwrap();
    symlink("empty-dir", root.join("link-to-dir")).unwrap();
    // Group/other exec bits without the owner's: nix only looks at the owner's.
    fs::write(root.join("not-exec"), b"g+x only").unwrap();
    fs::set_permissions(root.join("not-exec"), fs::Permissions::from_mode(0o654)).unwrap();
}

#[test]
fn nar_hash_of_tree_matches_nix_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    fs::create_dir(&root).unwrap();
    make_tree(&root);
    let d = nar_hash(&root).unwrap();
    assert_eq!(d.to_hex(), nix_hash(&root, false));
    assert_eq!(d.to_nix_base32(), nix_hash(&root, true));
}

#[test]
fn nar_hash_of_single_nodes_matches_nix_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("file");
    fs::write(&f, b"just a file\n").unwrap();
    let x = tmp.path().join("exe");
    write_exec(&x, b"exe");
    let e = tmp.path().join("emptydir");
    fs::create_dir(&e).unwrap();
    for p in [&f, &x, &e] {
        assert_eq!(
            nar_hash(p).unwrap().to_nix_base32(),
            nix_hash(p, true),
            "{}",
            p.display()
        );
    }
}

#[test]
fn nar_of_missing_path_names_it() {
    let err = nar_hash(Path::new("/nonexistent/tree"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/tree"), "{err}");
}

#[test]
fn flat_hashes_match_sha256sum_and_adaptors_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("data");
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i ^ (i >> 8)) as u8).collect();
    fs::write(&p, &data).unwrap();
    let expect = run("sha256sum", &[p.to_str().unwrap()]);
    let expect = expect.split_whitespace().next().unwrap();

    let (d, n) = hash_file(&p).unwrap();
    assert_eq!((d.to_hex().as_str(), n), (expect, data.len() as u64));
    assert_eq!(hash_reader(&data[..]).unwrap().0, d);
    assert_eq!(Sha256Digest::of_bytes(&data), d);

    let mut r = HashingReader::new(&data[..]);
    let mut w = HashingWriter::new(Vec::new());
    std::io::copy(&mut r, &mut w).unwrap();
    let (_, rd, rn) = r.finish();
    let (copy, wd, wn) = w.finish();
    assert_eq!((rd, rn), (d, n));
    assert_eq!((wd, wn), (d, n));
    assert_eq!(copy, data);
}

#[test]
fn notations_match_nix_hash_to_base32_and_sri() {
    let d = Sha256Digest::of_bytes(b"qubes-xen-kit");
    let hex = d.to_hex();
    assert_eq!(
        run("nix-hash", &["--type", "sha256", "--to-base32", &hex]),
        d.to_nix_base32()
    );
    // nix-hash --to-base16 reads base32 back: our base32 must be what nix expects.
    assert_eq!(
        run(
            "nix-hash",
            &["--type", "sha256", "--to-base16", &d.to_nix_base32()]
        ),
        hex
    );
    // SRI: standard base64 of the raw bytes.
    let b64 = run(
        "sh",
        &[
            "-c",
            &format!("printf %s {hex} | tr a-f A-F | basenc --base16 -d | base64 -w0"),
        ],
    );
    assert_eq!(d.to_sri(), format!("sha256-{b64}"));
}

#[test]
fn known_vector_and_parse_errors() {
    // sha256("") — a fixed, well-known value in all three notations.
    let d = Sha256Digest::of_bytes(b"");
    assert_eq!(
        d.to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        d.to_nix_base32(),
        "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
    );
    assert_eq!(
        d.to_sri(),
        "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    for s in [
        d.to_hex(),
        d.to_hex().to_uppercase(),
        d.to_nix_base32(),
        d.to_sri(),
    ] {
        assert_eq!(s.parse::<Sha256Digest>().unwrap(), d, "{s}");
    }
    let e =
        Sha256Digest::parse("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e").unwrap_err();
    assert!(
        e.to_string().contains("bad character 'e' at position 51"),
        "{e}"
    );
    // A leading digit with bits past 256 must be refused, not truncated.
    let e =
        Sha256Digest::parse("zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").unwrap_err();
    assert!(e.to_string().contains("larger than 256 bits"), "{e}");
    assert!(Sha256Digest::parse("sha512-abc")
        .unwrap_err()
        .to_string()
        .contains("sha256-"));
    assert!(Sha256Digest::parse("sha256-AAAA")
        .unwrap_err()
        .to_string()
        .contains("3 bytes"));
    assert!(Sha256Digest::parse("abc")
        .unwrap_err()
        .to_string()
        .contains("3 characters"));
}

proptest! {
    #[test]
    fn notations_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
        let d = Sha256Digest(bytes);
        prop_assert_eq!(Sha256Digest::from_nix_base32(&d.to_nix_base32()).unwrap(), d);
        prop_assert_eq!(Sha256Digest::from_sri(&d.to_sri()).unwrap(), d);
        prop_assert_eq!(Sha256Digest::from_hex(&d.to_hex()).unwrap(), d);
    }

    /// The parser is an input boundary: arbitrary text must give a value or an error, never a panic.
    #[test]
    fn parse_never_panics(s in "\\PC{0,80}", n in 0usize..60) {
        let _ = Sha256Digest::parse(&s);
        let chars: String = s.chars().cycle().take(if s.is_empty() { 0 } else { n }).collect();
        let _ = Sha256Digest::parse(&chars);
        let _ = Sha256Digest::from_nix_base32(&format!("{:0<52}", chars.chars().take(52).collect::<String>()));
    }
}
