//! Golden wire bytes: every request as the exact bytes xs_wire.h defines (little-endian
//! type, req_id, tx_id, len, then the payload), and replies decoded from literal bytes.

use std::time::Duration;

use xenstore_client::transport::Scripted;
use xenstore_client::{Client, Ops, Perm, WatchEvent};

/// Hex with whitespace for readability; `'text'` runs are ASCII.
fn bytes(spec: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in spec.split('\'').enumerate() {
        if i % 2 == 1 {
            out.extend_from_slice(part.replace("\\0", "\0").as_bytes());
        } else {
            let hex: String = part.split_whitespace().collect();
            for j in (0..hex.len()).step_by(2) {
                out.push(u8::from_str_radix(&hex[j..j + 2], 16).unwrap());
            }
        }
    }
    out
}

/// Runs `f` against canned replies; returns what the client sent.
fn exchange(replies: &str, f: impl FnOnce(&Client)) -> Vec<u8> {
    let t = Scripted::new(bytes(replies));
    let c = Client::with_transport(Box::new(t.clone()));
    f(&c);
    t.sent()
}

#[test]
fn read() {
    let sent = exchange("02000000 01000000 00000000 05000000 'hello'", |c| {
        assert_eq!(c.read("/a/b").unwrap(), b"hello")
    });
    assert_eq!(sent, bytes("02000000 01000000 00000000 05000000 '/a/b\\0'"));
}

#[test]
fn write_with_binary_value() {
    let sent = exchange("0b000000 01000000 00000000 03000000 'OK\\0'", |c| {
        c.write("/k", &[0, 0xff]).unwrap()
    });
    assert_eq!(
        sent,
        bytes("0b000000 01000000 00000000 05000000 '/k\\0' 00 ff")
    );
}

#[test]
fn directory_mkdir_rm() {
    let sent = exchange(
        "01000000 01000000 00000000 04000000 'a\\0b\\0'
         0c000000 02000000 00000000 03000000 'OK\\0'
         0d000000 03000000 00000000 03000000 'OK\\0'",
        |c| {
            assert_eq!(c.directory("/d").unwrap(), ["a", "b"]);
            c.mkdir("/d/c").unwrap();
            c.rm("/d").unwrap();
        },
    );
    assert_eq!(
        sent,
        bytes(
            "01000000 01000000 00000000 03000000 '/d\\0'
             0c000000 02000000 00000000 05000000 '/d/c\\0'
             0d000000 03000000 00000000 03000000 '/d\\0'"
        )
    );
}

#[test]
fn perms() {
    let sent = exchange(
        "03000000 01000000 00000000 06000000 'n0\\0r5\\0'
         0e000000 02000000 00000000 03000000 'OK\\0'",
        |c| {
            let p = c.get_perms("/p").unwrap();
            assert_eq!(p, ["n0".parse::<Perm>().unwrap(), "r5".parse().unwrap()]);
            c.set_perms("/p", &["b0".parse().unwrap(), "w12".parse().unwrap()])
                .unwrap();
        },
    );
    assert_eq!(
        sent,
        bytes(
            "03000000 01000000 00000000 03000000 '/p\\0'
             0e000000 02000000 00000000 0a000000 '/p\\0b0\\0w12\\0'"
        )
    );
}

#[test]
fn transaction_start_op_end() {
    let sent = exchange(
        "06000000 01000000 00000000 03000000 '42\\0'
         0b000000 02000000 2a000000 03000000 'OK\\0'
         07000000 03000000 2a000000 03000000 'OK\\0'",
        |c| {
            let tx = c.transaction().unwrap();
            assert_eq!(tx.id(), 42);
            tx.write("/x", b"1").unwrap();
            tx.commit().unwrap();
        },
    );
    assert_eq!(
        sent,
        bytes(
            "06000000 01000000 00000000 01000000 00
             0b000000 02000000 2a000000 04000000 '/x\\01'
             07000000 03000000 2a000000 02000000 'T\\0'"
        )
    );
}

#[test]
fn dropped_transaction_sends_abort() {
    let sent = exchange(
        "06000000 01000000 00000000 02000000 '7\\0'
         07000000 02000000 07000000 03000000 'OK\\0'",
        |c| drop(c.transaction().unwrap()),
    );
    assert_eq!(
        sent[sent.len() - 18..],
        bytes("07000000 02000000 07000000 02000000 'F\\0'")
    );
}

#[test]
fn watch_event_before_reply_is_queued() {
    let sent = exchange(
        "04000000 01000000 00000000 03000000 'OK\\0'
         0f000000 00000000 00000000 07000000 '/w\\0tok\\0'
         0f000000 00000000 00000000 09000000 '/w/x\\0tok\\0'
         02000000 02000000 00000000 01000000 'v'
         05000000 03000000 00000000 03000000 'OK\\0'",
        |c| {
            c.watch("/w", "tok").unwrap();
            assert_eq!(c.read("/w/x").unwrap(), b"v");
            c.unwatch("/w", "tok").unwrap();
            let ev = |p: &str| {
                Some(WatchEvent {
                    path: p.into(),
                    token: "tok".into(),
                })
            };
            assert_eq!(c.read_watch(Some(Duration::ZERO)).unwrap(), ev("/w"));
            assert_eq!(c.read_watch(Some(Duration::ZERO)).unwrap(), ev("/w/x"));
        },
    );
    assert_eq!(
        sent,
        bytes(
            "04000000 01000000 00000000 07000000 '/w\\0tok\\0'
             02000000 02000000 00000000 05000000 '/w/x\\0'
             05000000 03000000 00000000 07000000 '/w\\0tok\\0'"
        )
    );
}

#[test]
fn domain_ops_and_reset() {
    let sent = exchange(
        "0a000000 01000000 00000000 10000000 '/local/domain/3\\0'
         11000000 02000000 00000000 02000000 'T\\0'
         08000000 03000000 00000000 03000000 'OK\\0'
         09000000 04000000 00000000 03000000 'OK\\0'
         15000000 05000000 00000000 03000000 'OK\\0'",
        |c| {
            assert_eq!(c.get_domain_path(3).unwrap(), "/local/domain/3");
            assert!(c.is_domain_introduced(3).unwrap());
            c.introduce(3, 0xfeffc, 1).unwrap();
            c.release(3).unwrap();
            c.reset_watches().unwrap();
        },
    );
    assert_eq!(
        sent,
        bytes(
            "0a000000 01000000 00000000 02000000 '3\\0'
             11000000 02000000 00000000 02000000 '3\\0'
             08000000 03000000 00000000 0c000000 '3\\01044476\\01\\0'
             09000000 04000000 00000000 02000000 '3\\0'
             15000000 05000000 00000000 01000000 00"
        )
    );
}

#[test]
fn error_reply_names_the_errno() {
    exchange("10000000 01000000 00000000 07000000 'ENOENT\\0'", |c| {
        let e = c.read("/nope").unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "XS_READ /nope: xenstored answered ENOENT");
        let io: std::io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc_enoent()));
    });
}

fn libc_enoent() -> i32 {
    2
}

#[test]
fn directory_part_fallback() {
    let sent = exchange(
        "10000000 01000000 00000000 06000000 'E2BIG\\0'
         16000000 02000000 00000000 07000000 '9\\0a\\0bb\\0'
         16000000 03000000 00000000 05000000 '9\\0c\\0\\0'",
        |c| assert_eq!(c.directory("/big").unwrap(), ["a", "bb", "c"]),
    );
    assert_eq!(
        sent,
        bytes(
            "01000000 01000000 00000000 05000000 '/big\\0'
             16000000 02000000 00000000 07000000 '/big\\00\\0'
             16000000 03000000 00000000 07000000 '/big\\05\\0'"
        )
    );
}
