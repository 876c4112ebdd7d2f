//! The `xenstore-rs` traits, so code written against that crate can use this client.
//! Its API is string-only: values that are not UTF-8 are reported as `InvalidData`.

use std::io;

use xenstore_rs::{Xs, XsTransaction, XsTransactionSpan};

use crate::{Client, Ops, Transaction};

fn utf8(bytes: Vec<u8>) -> io::Result<Box<str>> {
    String::from_utf8(bytes)
        .map(String::into_boxed_str)
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "xenstore value is not UTF-8; use xenstore_client::Ops::read for bytes",
            )
        })
}

fn directory<O: Ops>(o: &O, path: &str) -> io::Result<Vec<Box<str>>> {
    Ok(o.directory(path)?
        .into_iter()
        .map(String::into_boxed_str)
        .collect())
}

/// One body for both types: `Xs` is xenstore-rs's trait, so a blanket impl over `Ops` is not
/// allowed (orphan rule); a macro keeps the two impls from drifting apart.
macro_rules! impl_xs {
    ($t:ty) => {
        impl Xs for $t {
            fn directory(&self, path: &str) -> io::Result<Vec<Box<str>>> {
                directory(self, path)
            }
            fn read(&self, path: &str) -> io::Result<Box<str>> {
                utf8(Ops::read(self, path)?)
            }
            fn write(&self, path: &str, data: &str) -> io::Result<()> {
                Ok(Ops::write(self, path, data.as_bytes())?)
            }
            fn rm(&self, path: &str) -> io::Result<()> {
                Ok(Ops::rm(self, path)?)
            }
        }
    };
}

impl_xs!(Client);
impl_xs!(Transaction);

impl XsTransaction for Client {
    type Span = Transaction;

    fn transaction(&self) -> io::Result<Transaction> {
        Ok(Client::transaction(self)?)
    }
}

impl XsTransactionSpan for Transaction {
    fn commit(self) -> io::Result<()> {
        Ok(Transaction::commit(self)?)
    }
}
