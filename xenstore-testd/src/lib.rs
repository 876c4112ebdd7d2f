//! A small xenstored for tests, written from the protocol description (Xen's
//! `docs/misc/xenstore.txt` and `xs_wire.h`): node tree with permissions, transactions that
//! answer `EAGAIN` on conflict, watches with their initial fire, `@introduceDomain` and
//! `@releaseDomain`, on a unix socket. C clients reach it through `XENSTORED_PATH`.
//!
//! Connections on the main socket act as dom0; [`TestServer::domain_socket`] opens a socket
//! whose connections act as another domain, for permission tests.

mod perms;
mod server;
mod store;

pub use server::TestServer;
