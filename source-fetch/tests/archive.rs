//! Safe extraction: real tarballs made by GNU tar/gzip/xz round-trip (checked by NAR hash with
//! nix-hash's view of the source tree), hostile ones are refused naming the entry.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use content_hash::nar_hash;
use proptest::prelude::*;
use source_fetch::{extract_stream, extract_tarball, ArchiveError};
use test_servers::archive::{gzip, make_tarball, raw_tar, xz, Member};

fn source_tree(root: &Path) {
    std::fs::create_dir_all(root.join("xen/include/public")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("xen/include/public/xen.h"), "/* header */\n").unwrap();
    std::fs::write(root.join("configure"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        root.join("configure"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(root.join("名前.txt"), "unicode\n").unwrap();
    std::os::unix::fs::symlink("xen/include/public/xen.h", root.join("xen.h")).unwrap();
    std::os::unix::fs::symlink("../configure", root.join("xen/configure-link")).unwrap();
}

#[test]
fn real_tarballs_round_trip_for_every_compression() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    // The reference: the source tree itself under a top directory.
    let expected = nar_hash(&src).unwrap();
    for comp in ["gz", "xz", ""] {
        let ball = tmp.path().join(format!("xen-4.17.4.tar.{comp}"));
        make_tarball(&src, "xen-4.17.4", comp, &ball).unwrap();
        let dest = tmp.path().join(format!("out-{comp}"));
        let stats = extract_tarball(&ball, &dest).unwrap();
        assert_eq!((stats.files, stats.symlinks), (3, 2), "{comp}");
        assert_eq!(
            nar_hash(&dest.join("xen-4.17.4")).unwrap(),
            expected,
            "{comp}"
        );
    }
}

fn refused(members: &[Member<'_>]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let tar = raw_tar(members);
    for data in [tar.clone(), gzip(&tar).unwrap(), xz(&tar).unwrap()] {
        let e = extract_stream(&data[..], &dest, "evil.tar").unwrap_err();
        assert!(matches!(e, ArchiveError::Unsafe { .. }), "{e}");
    }
    // Nothing escaped: the temp dir holds only what is inside dest.
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("dest")]);
    extract_stream(&tar[..], &dest, "evil.tar")
        .unwrap_err()
        .to_string()
}

#[test]
fn dotdot_is_refused() {
    let m = refused(&[
        Member::File {
            path: "ok.txt",
            data: b"x",
        },
        Member::File {
            path: "a/../../evil",
            data: b"x",
        },
    ]);
    assert!(
        m.contains("`a/../../evil`") && m.contains("evil.tar"),
        "{m}"
    );
}

#[test]
fn absolute_path_is_refused() {
    let m = refused(&[Member::File {
        path: "/tmp/qxk-evil-absolute",
        data: b"x",
    }]);
    assert!(
        m.contains("/tmp/qxk-evil-absolute") && m.contains("absolute"),
        "{m}"
    );
    assert!(!Path::new("/tmp/qxk-evil-absolute").exists());
}

#[test]
fn escaping_symlinks_and_hardlinks_are_refused() {
    let m = refused(&[Member::Symlink {
        path: "sub/link",
        target: "../../etc",
    }]);
    assert!(m.contains("`sub/link`") && m.contains("escapes"), "{m}");
    let m = refused(&[Member::Symlink {
        path: "abs",
        target: "/etc/passwd",
    }]);
    assert!(m.contains("absolute"), "{m}");
    let m = refused(&[Member::Hardlink {
        path: "h",
        target: "../outside",
    }]);
    assert!(m.contains("`h`"), "{m}");
    // A link that stays inside, followed by a write through it: refused too.
    let m = refused(&[
        Member::Dir { path: "d" },
        Member::Symlink {
            path: "l",
            target: "d",
        },
        Member::File {
            path: "l/x",
            data: b"x",
        },
    ]);
    assert!(m.contains("passes through the symlink"), "{m}");
}

#[test]
fn inside_links_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[
        Member::Dir { path: "a" },
        Member::File {
            path: "a/f",
            data: b"data",
        },
        Member::Symlink {
            path: "a/l",
            target: "../a/f",
        },
        Member::Hardlink {
            path: "h",
            target: "a/f",
        },
    ]);
    let s = extract_stream(&tar[..], tmp.path(), "ok.tar").unwrap();
    assert_eq!((s.files, s.symlinks, s.hardlinks), (1, 1, 1));
    assert_eq!(std::fs::read(tmp.path().join("a/l")).unwrap(), b"data");
    assert_eq!(std::fs::read(tmp.path().join("h")).unwrap(), b"data");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Extraction is an input boundary: random bytes give an error or a tree inside dest, never a
    /// panic or a write outside.
    #[test]
    fn random_input_never_escapes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("d");
        let _ = extract_stream(&data[..], &dest, "random");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        prop_assert!(names.iter().all(|n| n == "d"));
    }
}
