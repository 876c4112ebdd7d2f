//! Transactions: a handle that scopes operations to a transaction id, aborting on drop,
//! and the bounded retry policy used when xenstored reports a conflict.

use std::time::Duration;

use crate::client::Client;
use crate::error::Result;
use crate::ops::{expect_ok, Ops};
use crate::wire::Op;

/// How [`Client::transact`] retries conflicting transactions: up to `max_attempts`, sleeping
/// `initial_backoff` doubled each time up to `max_backoff` between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// Pause before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// An open transaction. Operations through it see its own writes; others see them only after
/// [`Transaction::commit`]. Dropping it without committing aborts it.
pub struct Transaction {
    client: Client,
    id: u32,
    finished: bool,
}

impl Transaction {
    pub(crate) fn new(client: Client, id: u32) -> Self {
        Transaction {
            client,
            id,
            finished: false,
        }
    }

    /// The id xenstored gave the transaction.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        let flag: &[u8] = if commit { b"T\0" } else { b"F\0" };
        let reply = self
            .client
            .request_in(self.id, Op::TransactionEnd, &[flag], "")?;
        expect_ok(Op::TransactionEnd, &reply)
    }

    /// Commits; a conflict comes back as an `EAGAIN` error ([`crate::Error::is_conflict`]).
    pub fn commit(mut self) -> Result<()> {
        self.end(true)
    }

    /// Discards the transaction's changes.
    pub fn abort(mut self) -> Result<()> {
        self.end(false)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.finished {
            if let Err(e) = self.end(false) {
                tracing::debug!(id = self.id, error = %e, "aborting dropped transaction failed");
            }
        }
    }
}

impl Ops for Transaction {
    fn request(&self, op: Op, parts: &[&[u8]], subject: &str) -> Result<Vec<u8>> {
        self.client.request_in(self.id, op, parts, subject)
    }

    fn pipelined(&self, op: Op, paths: &[String]) -> Vec<Result<Vec<u8>>> {
        self.client.pipelined_in(self.id, op, paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(1));
        assert_eq!(p.backoff(2), Duration::from_millis(2));
        assert_eq!(p.backoff(4), Duration::from_millis(8));
        assert_eq!(p.backoff(40), Duration::from_millis(100));
    }
}
