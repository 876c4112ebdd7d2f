//! Our client and Debian's C clients (libxenstore via xenstore-utils) against one test
//! xenstored: each must see exactly what the other wrote.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use xenstore_client::escape::escape;
use xenstore_client::{Client, Ops, Perm};

/// Every node below `dir` as path -> (escaped value, perms), the way xenstore-ls -f -p shows it.
fn our_listing(c: &Client, dir: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_string()];
    while let Some(d) = todo.pop() {
        for name in c.directory(&d).unwrap() {
            let p = xenstore_client::path::join(&d, &name);
            let perms: Vec<String> = c
                .get_perms(&p)
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect();
            out.insert(p.clone(), (escape(&c.read(&p).unwrap()), perms.join(",")));
            todo.push(p);
        }
    }
    out
}

#[test]
fn c_tools_see_exactly_what_we_write() {
    let s = server();
    let c = client(&s);
    let values: Vec<(&str, Vec<u8>)> = vec![
        ("/vm/name", b"work".to_vec()),
        ("/vm/device/vif/0/state", b"4".to_vec()),
        ("/vm/device/vif/0/mac", b"00:16:3e:5e:6c:00".to_vec()),
        (
            "/vm/bytes",
            vec![0, 1, 7, 8, b'\t', b'\n', b'\\', 0x7f, 0xff, b'"'],
        ),
        ("/vm/empty", Vec::new()),
        ("/vm/spaces", b"a b  c".to_vec()),
    ];
    for (p, v) in &values {
        c.write(p, v).unwrap();
    }
    c.mkdir("/vm/dir-only").unwrap();
    c.set_perms(
        "/vm/name",
        &[
            "n0".parse::<Perm>().unwrap(),
            "r5".parse().unwrap(),
            "w7".parse().unwrap(),
        ],
    )
    .unwrap();

    // Values: raw bytes through -R, escaped text otherwise.
    for (p, v) in &values {
        assert_eq!(&c_ok(&s, "xenstore-read", &["-R", p]), v, "{p}");
        let text = c_ok(&s, "xenstore-read", &[p]);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            format!("{}\n", escape(v)),
            "{p}"
        );
    }
    // The whole tree with permissions, as xenstore-ls -f -p prints it.
    let theirs =
        parse_c_ls(&String::from_utf8(c_ok(&s, "xenstore-ls", &["-f", "-p", "/vm"])).unwrap());
    assert_eq!(theirs, our_listing(&c, "/vm"));
    assert_eq!(theirs["/vm/name"].1, "n0,r5,w7");
    // Directory listings and existence.
    let list = String::from_utf8(c_ok(&s, "xenstore-list", &["/vm/device/vif/0"])).unwrap();
    let mut ours = c.directory("/vm/device/vif/0").unwrap();
    ours.sort();
    assert_eq!(list.lines().collect::<Vec<_>>(), ours);
    assert!(c_tool(&s, "xenstore-exists", &["/vm/empty"])
        .status
        .success());
    assert!(!c_tool(&s, "xenstore-exists", &["/vm/nope"])
        .status
        .success());
    // The server's own tree agrees too.
    let dump = s.dump();
    for (p, v) in &values {
        assert_eq!(&dump[*p], v);
    }
}

#[test]
fn we_see_exactly_what_c_tools_write() {
    let s = server();
    let c = client(&s);
    // Several pairs make xenstore-write use a transaction.
    c_ok(
        &s,
        "xenstore-write",
        &[
            "/c/a",
            "1",
            "/c/b/deep",
            "x\\ty\\001\\x7f",
            "/c/raw",
            "plain",
        ],
    );
    c_ok(&s, "xenstore-chmod", &["/c/a", "b0", "r3"]);
    assert_eq!(c.read("/c/a").unwrap(), b"1");
    assert_eq!(c.read("/c/b/deep").unwrap(), b"x\ty\x01\x7f");
    assert_eq!(c.read("/c/b").unwrap(), b"");
    let perms: Vec<String> = c
        .get_perms("/c/a")
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(perms, ["b0", "r3"]);
    let mut names = c.directory("/c").unwrap();
    names.sort();
    assert_eq!(names, ["a", "b", "raw"]);

    c_ok(&s, "xenstore-rm", &["/c/b"]);
    assert!(!c.exists("/c/b/deep").unwrap());
    assert!(c.exists("/c/raw").unwrap());
    // Errors look the same on both sides.
    let out = c_tool(&s, "xenstore-read", &["/c/b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(c.read("/c/b").unwrap_err().is_not_found());
}

#[test]
fn our_xs_output_matches_the_c_tools() {
    let s = server();
    let c = client(&s);
    c.write("/x/a", b"1").unwrap();
    c.write("/x/b/c", b"tab\there").unwrap();
    c.write("/x/b/d", &[0xfe, 0x02]).unwrap();
    for args in [
        &["read", "/x/a", "/x/b/c", "/x/b/d"][..],
        &["ls", "/x"][..],
        &["exists", "/x/b"][..],
        &["exists", "/x/zz"][..],
        &["read", "/x/zz"][..],
    ] {
        let tool = format!("xenstore-{}", args[0]);
        let theirs = c_tool(&s, &tool, &args[1..]);
        let ours = xs(&s, args);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        if args[0] != "ls" {
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs.stdout),
                "{args:?}"
            );
        } else {
            // xenstore-ls recurses; `xs ls -r` is the same listing.
            let ours = xs(&s, &["ls", "-r", "/x"]);
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs.stdout)
            );
        }
    }
}

#[test]
fn c_watch_sees_our_writes_and_we_see_c_writes() {
    let s = server();
    let c = client(&s);
    c.mkdir("/w").unwrap();
    let mut child = Command::new("xenstore-watch")
        .args(["-n", "3", "/w"])
        .env("XENSTORED_PATH", s.socket_path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xenstore-watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The initial fire proves the watch is registered before we write.
    assert_eq!(lines.next().unwrap().unwrap(), "/w");
    c.write("/w/one", b"1").unwrap();
    c.rm("/w/one").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "/w/one");
    assert_eq!(lines.next().unwrap().unwrap(), "/w/one");
    assert!(child.wait().unwrap().success());

    c.watch("/w", "tok").unwrap();
    assert_eq!(
        c.read_watch(Some(Duration::from_secs(5)))
            .unwrap()
            .unwrap()
            .path,
        "/w"
    );
    c_ok(&s, "xenstore-write", &["/w/from-c", "hi"]);
    let ev = c.read_watch(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!((ev.path.as_str(), ev.token.as_str()), ("/w/from-c", "tok"));
}
