//! The test xenstored spoken to with raw bytes (no client library), and its binary driven by
//! Debian's C tools.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use xenstore_testd::TestServer;

fn send(s: &mut UnixStream, kind: u32, req: u32, tx: u32, payload: &[u8]) {
    let mut v = Vec::new();
    for w in [kind, req, tx, payload.len() as u32] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(payload);
    s.write_all(&v).unwrap();
}

fn recv(s: &mut UnixStream) -> (u32, u32, u32, Vec<u8>) {
    let mut h = [0u8; 16];
    s.read_exact(&mut h).unwrap();
    let w = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    let mut p = vec![0u8; w(12) as usize];
    s.read_exact(&mut p).unwrap();
    (w(0), w(4), w(8), p)
}

#[test]
fn watch_reply_then_initial_fire_then_changes() {
    let server = TestServer::start().unwrap();
    let mut s = UnixStream::connect(server.socket_path()).unwrap();
    send(&mut s, 4, 7, 0, b"/x\0tk\0");
    assert_eq!(recv(&mut s), (4, 7, 0, b"OK\0".to_vec()));
    assert_eq!(recv(&mut s), (15, 0, 0, b"/x\0tk\0".to_vec()));
    send(&mut s, 11, 8, 0, b"/x/y\0val");
    assert_eq!(recv(&mut s), (11, 8, 0, b"OK\0".to_vec()));
    assert_eq!(recv(&mut s), (15, 0, 0, b"/x/y\0tk\0".to_vec()));
    send(&mut s, 4, 9, 0, b"/x\0tk\0");
    assert_eq!(recv(&mut s), (16, 9, 0, b"EEXIST\0".to_vec()));
}

#[test]
fn transactions_and_errors() {
    let server = TestServer::start().unwrap();
    let mut a = UnixStream::connect(server.socket_path()).unwrap();
    let mut b = UnixStream::connect(server.socket_path()).unwrap();
    send(&mut a, 6, 1, 0, b"\0");
    let (_, _, _, id) = recv(&mut a);
    let id: u32 = std::str::from_utf8(&id[..id.len() - 1])
        .unwrap()
        .parse()
        .unwrap();
    send(&mut a, 11, 2, id, b"/t\0in-tx");
    assert_eq!(recv(&mut a).3, b"OK\0");
    // Other connections cannot see it, nor use the transaction id.
    send(&mut b, 2, 1, 0, b"/t\0");
    assert_eq!(recv(&mut b).3, b"ENOENT\0");
    send(&mut b, 2, 2, id, b"/t\0");
    assert_eq!(recv(&mut b).3, b"ENOENT\0");
    // b writes a node a's transaction touched (the parent "/"): commit conflicts.
    send(&mut b, 11, 3, 0, b"/other\0x");
    assert_eq!(recv(&mut b).3, b"OK\0");
    send(&mut a, 7, 3, id, b"T\0");
    assert_eq!(recv(&mut a), (16, 3, id, b"EAGAIN\0".to_vec()));
    send(&mut a, 2, 4, 0, b"/t\0");
    assert_eq!(recv(&mut a).3, b"ENOENT\0");
    // Bad paths and unknown types.
    send(&mut a, 2, 5, 0, b"/a b\0");
    assert_eq!(recv(&mut a).3, b"EINVAL\0");
    send(&mut a, 99, 6, 0, b"");
    assert_eq!(recv(&mut a).3, b"EINVAL\0");
    // An oversized frame closes the connection.
    send(&mut a, 2, 7, 0, &vec![b'a'; 4097]);
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(a.read(&mut buf).unwrap_or(0), 0);
}

#[test]
fn binary_serves_the_c_tools() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("xs.sock");
    let dom_sock = dir.path().join("dom3.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xenstore-testd"))
        .arg("--socket")
        .arg(&sock)
        .arg("--domain")
        .arg(format!("3={}", dom_sock.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = [0u8; 9];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .unwrap(); // "listening"
    let run = |sock: &std::path::Path, args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .env("XENSTORED_PATH", sock)
            .output()
            .unwrap()
    };
    assert!(run(&sock, &["xenstore-write", "/hello", "world"])
        .status
        .success());
    assert_eq!(run(&sock, &["xenstore-read", "/hello"]).stdout, b"world\n");
    // Domain 3 may not read dom0's node.
    assert_eq!(
        run(&dom_sock, &["xenstore-read", "/hello"]).status.code(),
        Some(1)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
