//! The reply decoder on hostile input: random and mutated replies must give errors, never
//! panics or hangs. Runs the same entry point as the cargo-fuzz target, with a fixed seed.

use xenstore_client::transport::Scripted;
use xenstore_client::wire::DecodeError;
use xenstore_client::{fuzzing, Client, Error, Ops};

fn frame(kind: u32, req: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [kind, req, tx, payload.len() as u32] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        frame(2, 1, 0, b"value"),
        frame(1, 1, 0, b"a\0b\0"),
        frame(3, 1, 0, b"n0\0r5\0"),
        frame(6, 1, 0, b"12\0"),
        frame(16, 1, 0, b"ENOENT\0"),
        [frame(15, 0, 0, b"/w\0tok\0"), frame(2, 1, 0, b"v")].concat(),
        frame(22, 1, 0, b"3\0a\0\0"),
    ]
}

#[test]
fn random_and_mutated_replies_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_0005);
    let seeds = seeds();
    for round in 0..4000 {
        let input = if round % 4 == 0 {
            let len = rng.usize(0..200);
            (0..len).map(|_| rng.u8(..)).collect()
        } else {
            let mut v = seeds[rng.usize(0..seeds.len())].clone();
            for _ in 0..rng.usize(1..4) {
                match rng.u8(0..4) {
                    0 if !v.is_empty() => {
                        let i = rng.usize(0..v.len());
                        v[i] ^= 1 << rng.u8(0..8);
                    }
                    1 if !v.is_empty() => v.truncate(rng.usize(0..v.len())),
                    2 if v.len() >= 16 => {
                        let i = [0, 4, 8, 12][rng.usize(0..4)];
                        v[i..i + 4].copy_from_slice(&rng.u32(..).to_le_bytes());
                    }
                    _ => v.extend((0..rng.usize(0..20)).map(|_| rng.u8(..))),
                }
            }
            v
        };
        fuzzing::replies(&input);
    }
}

#[test]
fn oversized_payload_is_an_error_and_breaks_the_connection() {
    let mut bytes = frame(2, 1, 0, b"");
    bytes[12..16].copy_from_slice(&4097u32.to_le_bytes());
    let c = Client::with_transport(Box::new(Scripted::new(bytes)));
    let e = c.read("/a").unwrap_err();
    assert!(
        matches!(e, Error::Protocol(DecodeError::Oversized { len: 4097 })),
        "{e}"
    );
    assert!(matches!(c.read("/a").unwrap_err(), Error::Broken));
}

#[test]
fn unknown_request_id_is_an_error() {
    let c = Client::with_transport(Box::new(Scripted::new(frame(2, 99, 0, b"v"))));
    let e = c.read("/a").unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnexpectedReply {
                want_req: 1,
                got_req: 99,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_reply_type_unknown_type_and_bad_error_name() {
    let c = Client::with_transport(Box::new(Scripted::new(frame(1, 1, 0, b""))));
    assert!(matches!(
        c.read("/a").unwrap_err(),
        Error::UnexpectedReply { .. }
    ));
    let c = Client::with_transport(Box::new(Scripted::new(frame(20, 1, 0, b""))));
    assert!(matches!(
        c.read("/a").unwrap_err(),
        Error::Protocol(DecodeError::UnknownType(20))
    ));
    let c = Client::with_transport(Box::new(Scripted::new(frame(16, 1, 0, b"EWHAT\0"))));
    assert!(matches!(
        c.read("/a").unwrap_err(),
        Error::Protocol(DecodeError::Malformed { .. })
    ));
}

#[test]
fn truncated_reply_is_an_eof_error() {
    let c = Client::with_transport(Box::new(Scripted::new(&frame(2, 1, 0, b"value")[..18])));
    assert!(matches!(c.read("/a").unwrap_err(), Error::Io { .. }));
}
