//! Without a hypervisor both ends of a vchan fail to open with an error that names the
//! missing /dev/xen device nodes, and libxenvchan (given our quiet logger) prints nothing.
//! Paths libxenvchan would truncate are refused before any call.
//!
//! One test in this file on purpose: it redirects the process's stdout/stderr while it runs.

mod common;
use common::capture_terminal;

use std::path::Path;

use xen_toolstack::vchan::{Side, Vchan, VchanError, MAX_PATH_LEN};

#[test]
fn vchan_ends_fail_cleanly_without_a_hypervisor() {
    assert!(
        !Path::new("/dev/xen").exists(),
        "this test needs a machine without Xen (no /dev/xen)"
    );
    // The client's xs_open would otherwise find a xenstored socket if one ran here.
    let dir = tempfile::tempdir().expect("temp dir");
    std::env::set_var("XENSTORED_PATH", dir.path().join("no-such-socket"));

    let path = "/local/domain/5/data/vchan/1";
    let (results, printed) = capture_terminal(|| {
        (
            Vchan::server(5, path, 1024, 65536).err(),
            Vchan::client(0, path).err(),
        )
    });
    assert_eq!(printed, "", "libxenvchan printed to the terminal");
    let (server, client) = results;

    let server = server.expect("server_init succeeded without a hypervisor");
    let text = server.to_string();
    assert!(
        text.starts_with(
            "libxenvchan_server_init(domain 5, \"/local/domain/5/data/vchan/1\") failed: "
        ),
        "{text}"
    );
    assert!(
        text.contains("/dev/xen/gntalloc, /dev/xen/evtchn missing"),
        "{text}"
    );
    assert_eq!(server.errno(), Some(libc::ENOENT), "{text}");
    // (libxengnttab fails a missing gntalloc silently, so the names come from our check.)
    assert!(
        matches!(
            &server,
            VchanError::Init {
                side: Side::Server,
                ..
            }
        ),
        "{server:?}"
    );

    let client = client.expect("client_init succeeded without a hypervisor");
    let text = client.to_string();
    assert!(
        text.starts_with(
            "libxenvchan_client_init(domain 0, \"/local/domain/5/data/vchan/1\") failed: "
        ),
        "{text}"
    );
    assert!(
        text.contains("/dev/xen/gntdev, /dev/xen/evtchn missing"),
        "{text}"
    );
    assert_eq!(client.errno(), Some(libc::ENOENT), "{text}");

    // A path libxenvchan would cut at 64 bytes (with "/event-channel") is refused up front,
    // so neither end ever talks about a different key than the caller named.
    let longest = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
    let too_long = format!("{longest}b");
    assert_eq!(MAX_PATH_LEN, 49);
    for result in [
        Vchan::client(0, &too_long).err(),
        Vchan::server(5, &too_long, 1024, 1024).err(),
    ] {
        match result {
            Some(VchanError::Path { path, expected }) => {
                assert_eq!(path, too_long);
                assert!(expected.contains("at most 49 bytes"), "{expected}");
            }
            other => panic!("expected a path error, got {other:?}"),
        }
    }
    // The longest allowed path reaches libxenvchan (and fails there, for want of Xen).
    assert!(matches!(
        Vchan::client(0, &longest),
        Err(VchanError::Init { .. })
    ));
    assert!(matches!(
        Vchan::client(0, "bad\0path"),
        Err(VchanError::Path { .. })
    ));
    assert!(matches!(Vchan::client(0, ""), Err(VchanError::Path { .. })));
}
