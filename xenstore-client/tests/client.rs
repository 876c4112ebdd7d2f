//! Library behaviour against the test xenstored: transactions with real concurrency,
//! watches queued between replies, permissions per domain, special paths and limits.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use xenstore_client::{Client, Error, Ops, Perm, RetryPolicy, XsErrno};

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

#[test]
fn transactions_isolate_commit_and_abort_on_drop() {
    let s = server();
    let a = client(&s);
    let b = client(&s);
    a.write("/t/x", b"0").unwrap();
    {
        let tx = a.transaction().unwrap();
        tx.write("/t/x", b"1").unwrap();
        assert_eq!(tx.read("/t/x").unwrap(), b"1");
        assert_eq!(b.read("/t/x").unwrap(), b"0", "uncommitted write leaked");
        assert_eq!(s.transaction_count(), 1);
    } // dropped: aborted
    assert_eq!(s.transaction_count(), 0);
    assert_eq!(b.read("/t/x").unwrap(), b"0");

    let tx = a.transaction().unwrap();
    tx.write("/t/x", b"2").unwrap();
    tx.commit().unwrap();
    assert_eq!(b.read("/t/x").unwrap(), b"2");
}

#[test]
fn conflicting_commit_gets_eagain() {
    let s = server();
    let a = client(&s);
    let b = client(&s);
    a.write("/t/x", b"0").unwrap();
    let tx = a.transaction().unwrap();
    assert_eq!(tx.read("/t/x").unwrap(), b"0");
    b.write("/t/x", b"other").unwrap();
    tx.write("/t/x", b"mine").unwrap();
    let e = tx.commit().unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert_eq!(a.read("/t/x").unwrap(), b"other");
}

#[test]
fn concurrent_increments_retry_and_never_lose_updates() {
    let s = server();
    client(&s).write("/counter", b"0").unwrap();
    let threads = 4;
    let per_thread = 25;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let mut c = client(&s);
            c.set_retry_policy(RetryPolicy {
                max_attempts: 1000,
                initial_backoff: Duration::from_micros(50),
                max_backoff: Duration::from_millis(2),
            });
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    c.transact(|tx| {
                        let n: u32 = String::from_utf8(tx.read("/counter")?)
                            .unwrap()
                            .parse()
                            .unwrap();
                        tx.write("/counter", (n + 1).to_string().as_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        client(&s).read("/counter").unwrap(),
        (threads * per_thread).to_string().as_bytes()
    );
}

#[test]
fn retry_policy_is_bounded() {
    let s = server();
    let mut a = client(&s);
    let b = client(&s);
    a.set_retry_policy(RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    });
    a.write("/r", b"0").unwrap();
    let mut attempts = 0;
    let e = a
        .transact(|tx| {
            attempts += 1;
            tx.read("/r")?;
            b.write("/r", attempts.to_string().as_bytes())?; // someone else always wins
            tx.write("/r", b"mine")
        })
        .unwrap_err();
    assert!(matches!(e, Error::RetriesExhausted { attempts: 3 }), "{e}");
    assert_eq!(attempts, 3);
}

#[test]
fn watch_events_between_replies_are_queued() {
    let s = server();
    let c = client(&s);
    let other = client(&s);
    c.watch("/q", "t1").unwrap();
    c.watch("@introduceDomain", "intro").unwrap();
    // Events arrive while `c` is busy with requests; they must not be mistaken for replies.
    for i in 0..5 {
        other.write(&format!("/q/{i}"), b"v").unwrap();
        c.read(&format!("/q/{i}")).unwrap();
    }
    let mut got = Vec::new();
    while let Some(ev) = c.read_watch(Some(Duration::from_millis(200))).unwrap() {
        got.push((ev.path, ev.token));
    }
    let mut want = vec![
        ("/q".to_string(), "t1".to_string()),
        ("@introduceDomain".into(), "intro".into()),
    ];
    want.extend((0..5).map(|i| (format!("/q/{i}"), "t1".to_string())));
    assert_eq!(got, want);
}

#[test]
fn watch_delivery_across_threads() {
    let s = server();
    let c = client(&s);
    c.watch("/live", "tok").unwrap();
    assert_eq!(c.read_watch(WAIT).unwrap().unwrap().path, "/live");
    let writer = client(&s);
    let t = thread::spawn(move || {
        for i in 0..20 {
            writer.write(&format!("/live/{i}"), b"x").unwrap();
        }
    });
    // A second thread shares the watching client for requests while events stream in.
    let c2 = c.clone();
    let reader = thread::spawn(move || {
        for _ in 0..20 {
            c2.directory("/").unwrap();
        }
    });
    let mut paths = Vec::new();
    while paths.len() < 20 {
        paths.push(c.read_watch(WAIT).unwrap().expect("event within 5 s").path);
    }
    t.join().unwrap();
    reader.join().unwrap();
    assert_eq!(
        paths,
        (0..20).map(|i| format!("/live/{i}")).collect::<Vec<_>>()
    );
    c.unwatch("/live", "tok").unwrap();
    c.reset_watches().unwrap();
    assert_eq!(s.watch_count(), 0);
    assert_eq!(c.read_watch(Some(Duration::from_millis(50))).unwrap(), None);
}

#[test]
fn introduce_and_release_fire_special_watches() {
    let s = server();
    let c = client(&s);
    c.watch("@releaseDomain", "rel").unwrap();
    assert_eq!(c.read_watch(WAIT).unwrap().unwrap().path, "@releaseDomain");
    assert!(!c.is_domain_introduced(7).unwrap());
    c.introduce(7, 0x1234, 3).unwrap();
    assert!(c.is_domain_introduced(7).unwrap());
    c.release(7).unwrap();
    let ev = c.read_watch(WAIT).unwrap().unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.token.as_str()),
        ("@releaseDomain", "rel")
    );
    assert_eq!(c.get_domain_path(7).unwrap(), "/local/domain/7");
}

#[test]
fn permissions_apply_per_domain() {
    let s = server();
    let dom0 = client(&s);
    let dom5 = Client::open_path(&s.domain_socket(5).unwrap()).unwrap();
    let dom6 = Client::open_path(&s.domain_socket(6).unwrap()).unwrap();
    let p = |t: &str| t.parse::<Perm>().unwrap();
    dom0.write("/secret", b"s").unwrap();
    assert_eq!(
        dom5.read("/secret").unwrap_err().errno(),
        Some(XsErrno::EACCES)
    );
    dom0.write("/shared", b"v").unwrap();
    dom0.set_perms("/shared", &[p("n0"), p("r5")]).unwrap();
    assert_eq!(dom5.read("/shared").unwrap(), b"v");
    assert_eq!(
        dom6.read("/shared").unwrap_err().errno(),
        Some(XsErrno::EACCES)
    );
    assert_eq!(
        dom5.write("/shared", b"x").unwrap_err().errno(),
        Some(XsErrno::EACCES)
    );
    // A domain's home, owned by it: relative paths resolve there and new nodes are its own.
    dom0.mkdir("/local/domain/5").unwrap();
    dom0.set_perms("/local/domain/5", &[p("n5")]).unwrap();
    dom5.write("data/x", b"1").unwrap();
    assert_eq!(dom0.read("/local/domain/5/data/x").unwrap(), b"1");
    assert_eq!(s.perms("/local/domain/5/data/x").unwrap(), ["n5"]);
    assert_eq!(
        dom6.read("/local/domain/5/data/x").unwrap_err().errno(),
        Some(XsErrno::EACCES)
    );
    // Only dom0 may give a node away.
    assert_eq!(
        dom5.set_perms("data/x", &[p("n6")]).unwrap_err().errno(),
        Some(XsErrno::EACCES)
    );
}

#[test]
fn relative_watch_paths_come_back_relative() {
    let s = server();
    let dom0 = client(&s);
    dom0.mkdir("/local/domain/0").unwrap();
    dom0.watch("device", "d").unwrap();
    assert_eq!(dom0.read_watch(WAIT).unwrap().unwrap().path, "device");
    dom0.write("device/vif/0/state", b"1").unwrap();
    assert_eq!(
        dom0.read_watch(WAIT).unwrap().unwrap().path,
        "device/vif/0/state"
    );
}

#[test]
fn client_side_limits_give_clear_errors() {
    let s = server();
    let c = client(&s);
    let big = vec![b'v'; 4096];
    let e = c.write("/big", &big).unwrap_err();
    assert!(
        matches!(
            e,
            Error::PayloadTooLarge {
                len: 4101,
                max: 4096,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("at most 4096"), "{e}");
    c.write("/big", &big[..4096 - 6]).unwrap(); // "/big\0" + value fits exactly
    assert_eq!(c.read("/big").unwrap().len(), 4090);
    let long = format!("/{}", "a".repeat(3100));
    assert!(matches!(
        c.read(&long).unwrap_err(),
        Error::InvalidPath { .. }
    ));
    assert!(matches!(
        c.write("/bad path", b"").unwrap_err(),
        Error::InvalidPath { .. }
    ));
    // The connection still works after refusals.
    assert_eq!(c.read("/big").unwrap().len(), 4090);
}

#[test]
fn large_directories_fall_back_to_directory_part() {
    let s = server();
    let c = client(&s);
    let names: Vec<String> = (0..300)
        .map(|i| format!("entry-with-a-fairly-long-name-{i:04}"))
        .collect();
    c.transact(|tx| {
        for n in &names {
            tx.write(&format!("/big/{n}"), b"")?;
        }
        Ok(())
    })
    .unwrap();
    let mut got = c.directory("/big").unwrap();
    got.sort();
    assert_eq!(got, names);
    // The C library takes the same route.
    let theirs = c_ok(&s, "xenstore-list", &["/big"]);
    assert_eq!(String::from_utf8(theirs).unwrap().lines().count(), 300);
}

#[test]
fn rm_and_mkdir_semantics() {
    let s = server();
    let c = client(&s);
    c.mkdir("/m/a/b").unwrap();
    c.mkdir("/m/a/b").unwrap();
    assert_eq!(c.read("/m/a/b").unwrap(), b"");
    c.rm("/m/a").unwrap();
    assert!(!c.exists("/m/a/b").unwrap());
    c.rm("/m/a").unwrap(); // gone already, parent exists: fine
    assert!(c.rm("/nothing/here").unwrap_err().is_not_found());
    assert_eq!(c.rm("/").unwrap_err().errno(), Some(XsErrno::EINVAL));
}

#[test]
fn pipelined_requests_keep_order_and_per_item_errors() {
    let s = server();
    let c = client(&s);
    let paths: Vec<String> = (0..100).map(|i| format!("/p/{i}")).collect();
    for p in paths.iter().step_by(2) {
        c.write(p, p.as_bytes()).unwrap();
    }
    let mut asked = paths.clone();
    asked.insert(50, "/bad path".into());
    let got = c.read_many(&asked);
    assert_eq!(got.len(), 101);
    for (p, r) in asked.iter().zip(&got) {
        match r {
            Ok(v) => assert_eq!(v, p.as_bytes()),
            Err(Error::InvalidPath { .. }) => assert_eq!(p, "/bad path"),
            Err(e) => assert!(e.is_not_found() && !s.dump().contains_key(p), "{p}: {e}"),
        }
    }
    assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 50);
    // Inside a transaction, pipelined reads see the transaction's writes.
    let tx = c.transaction().unwrap();
    tx.write("/p/1", b"tx").unwrap();
    assert_eq!(
        tx.read_many(&["/p/1".into(), "/p/0".into()])[0]
            .as_ref()
            .unwrap(),
        b"tx"
    );
    let dirs = tx.directory_many(&["/p".into(), "/nope".into()]);
    assert_eq!(dirs[0].as_ref().unwrap().len(), 51);
    assert!(dirs[1].as_ref().unwrap_err().is_not_found());
}

#[test]
fn watches_only_report_nodes_the_watcher_may_read() {
    let s = server();
    let dom0 = client(&s);
    let dom5 = Client::open_path(&s.domain_socket(5).unwrap()).unwrap();
    dom0.mkdir("/area").unwrap();
    dom0.set_perms("/area", &["n0".parse().unwrap(), "r5".parse().unwrap()])
        .unwrap();
    dom5.watch("/area", "w").unwrap();
    assert_eq!(dom5.read_watch(WAIT).unwrap().unwrap().path, "/area");
    dom0.write("/area/hidden", b"x").unwrap();
    dom0.set_perms("/area/hidden", &["n0".parse().unwrap()])
        .unwrap();
    dom0.write("/area/visible", b"y").unwrap(); // inherits r5
    let ev = dom5.read_watch(WAIT).unwrap().unwrap();
    assert_eq!(ev.path, "/area/hidden"); // the creating write happened while it was still r5
    assert_eq!(
        dom5.read_watch(WAIT).unwrap().unwrap().path,
        "/area/visible"
    );
    assert_eq!(
        dom5.read_watch(Some(Duration::from_millis(100))).unwrap(),
        None,
        "the set_perms to n0 must not be reported"
    );
}
