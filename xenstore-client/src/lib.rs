//! Xenstore client for Xen guests and dom0: the wire protocol over xenstored's unix socket
//! or the xenbus device, byte values, queued watch events, transactions that abort on drop
//! and retry on conflict, and the `xenstore-rs` traits.
//!
//! ```no_run
//! use xenstore_client::{Client, Ops};
//! let xs = Client::open()?;
//! let name = xs.read("name")?;
//! xs.transact(|tx| tx.write("data/counter", b"1"))?;
//! # Ok::<(), xenstore_client::Error>(())
//! ```

#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
mod compat;
pub mod error;
pub mod escape;
pub mod fuzzing;
pub mod ops;
pub mod path;
pub mod perms;
pub mod transaction;
pub mod transport;
pub mod wire;

pub use client::{Client, WatchEvent};
pub use error::{Error, Result};
pub use ops::Ops;
pub use perms::{Access, Perm};
pub use transaction::{RetryPolicy, Transaction};
pub use wire::{Op, XsErrno};
