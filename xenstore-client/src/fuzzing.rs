//! Entry point shared by the cargo-fuzz target and the randomized test: feeds arbitrary
//! bytes to the client as if xenstored sent them. Any outcome but a panic or hang is fine.

use std::time::Duration;

use crate::transport::Scripted;
use crate::{wire, Client, Ops};

/// Decodes `data` as daemon replies through every reply parser the client has.
pub fn replies(data: &[u8]) {
    // The bare frame decoder over the whole input.
    let mut rest = data;
    while let Ok(Some((frame, used))) = wire::decode_frame(rest) {
        let _ = wire::split_strings(frame.op, &frame.payload);
        let _ = wire::parse_error(&frame.payload);
        rest = &rest[used..];
    }
    // A client whose daemon "replies" with the input.
    let client = Client::with_transport(Box::new(Scripted::new(data)));
    let _ = client.read("/a");
    let _ = client.directory("/a");
    let _ = client.get_perms("/a");
    let _ = client.transaction().and_then(|tx| tx.write("/a", b"x"));
    let _ = client.read_watch(Some(Duration::ZERO));
    // The same input once more, asking for watch events first.
    let client = Client::with_transport(Box::new(Scripted::new(data)));
    let _ = client.read_watch(Some(Duration::ZERO));
    let _ = client.get_domain_path(0);
}
