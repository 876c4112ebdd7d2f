//! The `xenstore-rs` crate as a peer: its own client (`XsUnix`) and ours against one test
//! xenstored, plus code generic over its traits running on our client.

mod common;

use common::*;
use xenstore_client::Ops;
use xenstore_rs::unix::XsUnix;
use xenstore_rs::{Xs, XsTransaction, XsTransactionSpan};

/// Code written against xenstore-rs: records a device and lists it back.
fn register_device<X: Xs>(xs: &X, base: &str, id: u32) -> std::io::Result<Vec<Box<str>>> {
    xs.write(&format!("{base}/{id}/state"), "1")?;
    xs.write(
        &format!("{base}/{id}/backend"),
        "/local/domain/0/backend/vif",
    )?;
    let mut names = xs.directory(base)?;
    names.sort();
    Ok(names)
}

fn bump<T>(xs: &T, path: &str) -> std::io::Result<()>
where
    T: XsTransaction,
    T::Span: XsTransactionSpan,
{
    let tx = xs.transaction()?;
    let n: u32 = tx.read(path)?.parse().map_err(std::io::Error::other)?;
    tx.write(path, &(n + 1).to_string())?;
    tx.commit()
}

#[test]
fn xenstore_rs_and_our_client_see_the_same_tree() {
    let s = server();
    // XsUnix only reads XENSTORED_PATH; this test binary has a single test, so no race.
    std::env::set_var("XENSTORED_PATH", s.socket_path());
    let theirs = XsUnix::new().expect("xenstore-rs connects");
    let ours = client(&s);

    // Generic code gives the same result through either implementation.
    assert_eq!(
        register_device(&theirs, "/dev-a", 0).unwrap(),
        ["0".into()] as [Box<str>; 1]
    );
    assert_eq!(
        register_device(&ours, "/dev-b", 0).unwrap(),
        ["0".into()] as [Box<str>; 1]
    );
    for base in ["/dev-a", "/dev-b"] {
        for leaf in ["state", "backend"] {
            let p = format!("{base}/0/{leaf}");
            assert_eq!(
                Xs::read(&theirs, &p).unwrap(),
                Xs::read(&ours, &p).unwrap(),
                "{p}"
            );
        }
    }
    // Writes from each side are read by the other, and rm is seen by both.
    Xs::write(&theirs, "/mixed/from-rs", "a").unwrap();
    Ops::write(&ours, "/mixed/from-ours", b"b").unwrap();
    assert_eq!(Ops::read(&ours, "/mixed/from-rs").unwrap(), b"a");
    assert_eq!(&*Xs::read(&theirs, "/mixed/from-ours").unwrap(), "b");
    let mut a = Xs::directory(&theirs, "/mixed").unwrap();
    a.sort();
    let mut b = Ops::directory(&ours, "/mixed").unwrap();
    b.sort();
    assert_eq!(a.iter().map(|s| s.to_string()).collect::<Vec<_>>(), b);
    Xs::rm(&theirs, "/mixed/from-ours").unwrap();
    assert!(!ours.exists("/mixed/from-ours").unwrap());
    assert!(Xs::read(&theirs, "/mixed/nope").is_err());
    assert_eq!(
        Xs::read(&ours, "/mixed/nope").unwrap_err().raw_os_error(),
        Some(2)
    );

    // Transactions through the xenstore-rs traits on our client.
    Xs::write(&ours, "/n", "0").unwrap();
    bump(&ours, "/n").unwrap();
    bump(&ours, "/n").unwrap();
    assert_eq!(&*Xs::read(&theirs, "/n").unwrap(), "2");
    {
        let tx = XsTransaction::transaction(&ours).unwrap();
        Xs::write(&tx, "/n", "99").unwrap();
    } // dropped: aborted
    assert_eq!(&*Xs::read(&theirs, "/n").unwrap(), "2");
    assert_eq!(s.transaction_count(), 0);

    // The server's own view matches.
    let dump = s.dump();
    assert_eq!(dump["/mixed/from-rs"], b"a");
    assert!(!dump.contains_key("/mixed/from-ours"));
}
