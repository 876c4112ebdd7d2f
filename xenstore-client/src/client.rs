//! A synchronous xenstore connection. One request is in flight at a time (the lock is held
//! from send to reply), which matches how xenstored serves a connection and keeps replies in
//! order; watch events that arrive in between are queued for [`Client::read_watch`].

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::ops::Ops;
use crate::transaction::{RetryPolicy, Transaction};
use crate::transport::{self, Transport};
use crate::wire::{self, Frame, Op, PAYLOAD_MAX};

/// A watch firing: the node that changed and the token given to [`Client::watch`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

struct Conn {
    transport: Box<dyn Transport>,
    /// Receive buffer; bytes `rx_start..rx_end` are unread. Reads go straight into it, so
    /// a reply usually costs one `recv` and no zeroing or shifting.
    rx: Box<[u8]>,
    rx_start: usize,
    rx_end: usize,
    events: VecDeque<WatchEvent>,
    broken: bool,
}

/// How long `read_watch` holds the connection lock per wait, so requests from other
/// threads sharing the client are not starved.
const WATCH_SLICE: Duration = Duration::from_millis(20);
const READ_CHUNK: usize = 16 * 1024;
/// Requests in flight per pipelined batch. Worst-case replies (32 x 4 KiB) stay below a unix
/// socket's default buffer, so the daemon never blocks on us while we are still sending.
pub const PIPELINE_DEPTH: usize = 32;

impl Conn {
    /// Reads more bytes into the receive buffer.
    fn fill(&mut self) -> Result<()> {
        if self.rx_end == self.rx.len() {
            // A frame is at most HEADER_LEN + PAYLOAD_MAX, less than the buffer: compacting
            // always makes room.
            self.rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end -= self.rx_start;
            self.rx_start = 0;
        }
        loop {
            match self.transport.recv(&mut self.rx[self.rx_end..]) {
                Ok(0) => {
                    return Err(Error::Io {
                        context: "reading reply",
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "xenstored closed the connection",
                        ),
                    });
                }
                Ok(n) => {
                    self.rx_end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Io {
                        context: "reading reply",
                        source,
                    })
                }
            }
        }
    }

    /// Takes a complete frame from the buffer if there is one.
    fn buffered_frame(&mut self) -> Result<Option<Frame>> {
        match wire::decode_frame(&self.rx[self.rx_start..self.rx_end])? {
            Some((frame, used)) => {
                self.rx_start += used;
                if self.rx_start == self.rx_end {
                    self.rx_start = 0;
                    self.rx_end = 0;
                }
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    fn queue_event(&mut self, frame: &Frame) -> Result<()> {
        let mut parts = wire::split_strings(Op::WatchEvent, &frame.payload)?.into_iter();
        match (parts.next(), parts.next()) {
            (Some(path), Some(token)) => {
                self.events.push_back(WatchEvent { path, token });
                Ok(())
            }
            _ => Err(wire::DecodeError::Malformed {
                op: Op::WatchEvent,
                why: "expected path and token",
            }
            .into()),
        }
    }

    /// Sends one request and waits for its reply, queueing watch events seen meanwhile.
    fn exchange(&mut self, bytes: &[u8], req_id: u32, op: Op) -> Result<Frame> {
        self.send(bytes)?;
        self.receive(req_id, op)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.transport.send(bytes).map_err(|source| Error::Io {
            context: "sending request",
            source,
        })
    }

    /// Waits for the reply to `req_id`; xenstored answers a connection's requests in order.
    fn receive(&mut self, req_id: u32, op: Op) -> Result<Frame> {
        loop {
            let frame = match self.buffered_frame()? {
                Some(f) => f,
                None => {
                    self.fill()?;
                    continue;
                }
            };
            if frame.op == Op::WatchEvent {
                self.queue_event(&frame)?;
                continue;
            }
            if frame.req_id != req_id || (frame.op != op && frame.op != Op::Error) {
                return Err(Error::UnexpectedReply {
                    want: op,
                    want_req: req_id,
                    got: frame.op,
                    got_req: frame.req_id,
                });
            }
            return Ok(frame);
        }
    }
}

struct Shared {
    conn: Mutex<Conn>,
    next_req: AtomicU32,
}

/// A connection to xenstored. Cloning shares the connection (requests from clones are
/// serialised on it), which lets a [`Transaction`] own its handle.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    retry: RetryPolicy,
}

impl Client {
    /// Connects the way the C library does (see [`transport::candidates`]).
    pub fn open() -> Result<Client> {
        Ok(Client::with_transport(transport::open_default()?))
    }

    /// Connects to a specific socket or xenbus device.
    pub fn open_path(path: &Path) -> Result<Client> {
        let t = transport::open_path(path).map_err(|e| Error::NotConnected {
            tried: vec![(path.to_path_buf(), e)],
        })?;
        Ok(Client::with_transport(t))
    }

    /// Wraps any transport (tests use [`transport::Scripted`]).
    pub fn with_transport(transport: Box<dyn Transport>) -> Client {
        let conn = Conn {
            transport,
            rx: vec![0; READ_CHUNK].into_boxed_slice(),
            rx_start: 0,
            rx_end: 0,
            events: VecDeque::new(),
            broken: false,
        };
        Client {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                next_req: AtomicU32::new(1),
            }),
            retry: RetryPolicy::default(),
        }
    }

    /// Sets the policy used by [`Client::transact`].
    pub fn set_retry_policy(&mut self, policy: RetryPolicy) {
        self.retry = policy;
    }

    /// The policy used by [`Client::transact`].
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    fn lock(&self) -> Result<MutexGuard<'_, Conn>> {
        self.shared.conn.lock().map_err(|_| Error::Broken)
    }

    /// Sends `op` with the concatenated payload `parts` in transaction `tx_id` and returns the
    /// reply payload. `subject` names the path in error messages.
    pub(crate) fn request_in(
        &self,
        tx_id: u32,
        op: Op,
        parts: &[&[u8]],
        subject: &str,
    ) -> Result<Vec<u8>> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > PAYLOAD_MAX {
            return Err(Error::PayloadTooLarge {
                op,
                len,
                max: PAYLOAD_MAX,
            });
        }
        let req_id = self.shared.next_req.fetch_add(1, Ordering::Relaxed);
        let bytes = wire::encode_request(op, req_id, tx_id, parts);
        let mut conn = self.lock()?;
        if conn.broken {
            return Err(Error::Broken);
        }
        let frame = match conn.exchange(&bytes, req_id, op) {
            Ok(f) => f,
            Err(e) => {
                conn.broken = true;
                return Err(e);
            }
        };
        drop(conn);
        if frame.op == Op::Error {
            let errno = wire::parse_error(&frame.payload)?;
            return Err(Error::Xenstore {
                op,
                path: subject.to_string(),
                errno,
            });
        }
        Ok(frame.payload)
    }

    /// Sends up to [`PIPELINE_DEPTH`] single-path requests at once and then collects the
    /// replies, saving a round trip per request (what makes `ls -r` fast).
    pub(crate) fn pipelined_in(
        &self,
        tx_id: u32,
        op: Op,
        paths: &[String],
    ) -> Vec<Result<Vec<u8>>> {
        let mut results: Vec<Result<Vec<u8>>> = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(PIPELINE_DEPTH) {
            let mut bytes = Vec::new();
            let mut sent = Vec::with_capacity(chunk.len());
            for p in chunk {
                match crate::path::check(p, false) {
                    Ok(()) => {
                        let req_id = self.shared.next_req.fetch_add(1, Ordering::Relaxed);
                        bytes.extend_from_slice(&wire::encode_request(
                            op,
                            req_id,
                            tx_id,
                            &[p.as_bytes(), b"\0"],
                        ));
                        sent.push((results.len(), req_id));
                        results.push(Err(Error::Broken)); // replaced below
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
            if sent.is_empty() {
                continue;
            }
            let Ok(mut conn) = self.lock() else {
                continue; // placeholders already say Broken
            };
            if conn.broken {
                continue; // placeholders already say Broken
            }
            if let Err(e) = conn.send(&bytes) {
                conn.broken = true;
                results[sent[0].0] = Err(e);
                continue;
            }
            for (slot, req_id) in sent {
                let frame = match conn.receive(req_id, op) {
                    Ok(f) => f,
                    Err(e) => {
                        conn.broken = true;
                        results[slot] = Err(e);
                        break;
                    }
                };
                results[slot] = if frame.op == Op::Error {
                    wire::parse_error(&frame.payload)
                        .map_err(Error::from)
                        .and_then(|errno| {
                            Err(Error::Xenstore {
                                op,
                                path: paths[slot].clone(),
                                errno,
                            })
                        })
                } else {
                    Ok(frame.payload)
                };
            }
        }
        results
    }

    /// Registers a watch on `path` (or a special path like `@introduceDomain`). xenstored fires
    /// it once right away, then on every change at or below the path.
    pub fn watch(&self, path: &str, token: &str) -> Result<()> {
        crate::path::check(path, true)?;
        let reply = self.request_in(
            0,
            Op::Watch,
            &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
            path,
        )?;
        crate::ops::expect_ok(Op::Watch, &reply)
    }

    /// Removes a watch registered with the same path and token.
    pub fn unwatch(&self, path: &str, token: &str) -> Result<()> {
        crate::path::check(path, true)?;
        let reply = self.request_in(
            0,
            Op::Unwatch,
            &[path.as_bytes(), b"\0", token.as_bytes(), b"\0"],
            path,
        )?;
        crate::ops::expect_ok(Op::Unwatch, &reply)
    }

    /// Drops every watch of this connection (`XS_RESET_WATCHES`) and the queued events.
    pub fn reset_watches(&self) -> Result<()> {
        let reply = self.request_in(0, Op::ResetWatches, &[b"\0"], "")?;
        self.lock()?.events.clear();
        crate::ops::expect_ok(Op::ResetWatches, &reply)
    }

    /// Waits for the next watch event; `None` waits forever, `Some(ZERO)` only drains the queue
    /// and what has already arrived. Returns `Ok(None)` on timeout.
    pub fn read_watch(&self, timeout: Option<Duration>) -> Result<Option<WatchEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut conn = self.lock()?;
            if let Some(ev) = conn.events.pop_front() {
                return Ok(Some(ev));
            }
            if conn.broken {
                return Err(Error::Broken);
            }
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WATCH_SLICE),
                None => WATCH_SLICE,
            };
            let result = Self::pump_events(&mut conn, slice);
            if let Err(e) = result {
                conn.broken = true;
                return Err(e);
            }
            if let Some(ev) = conn.events.pop_front() {
                return Ok(Some(ev));
            }
            drop(conn);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Reads whatever arrives within `wait` while no request is in flight: only watch events
    /// are legitimate then.
    fn pump_events(conn: &mut Conn, wait: Duration) -> Result<()> {
        loop {
            if let Some(frame) = conn.buffered_frame()? {
                if frame.op != Op::WatchEvent {
                    return Err(Error::UnexpectedReply {
                        want: Op::WatchEvent,
                        want_req: 0,
                        got: frame.op,
                        got_req: frame.req_id,
                    });
                }
                conn.queue_event(&frame)?;
                continue;
            }
            if !conn.events.is_empty() {
                return Ok(());
            }
            let ready = conn
                .transport
                .wait_readable(Some(wait))
                .map_err(|source| Error::Io {
                    context: "waiting for watch events",
                    source,
                })?;
            if !ready {
                return Ok(());
            }
            conn.fill()?;
        }
    }

    /// Starts a transaction; it aborts when dropped without [`Transaction::commit`].
    pub fn transaction(&self) -> Result<Transaction> {
        let reply = self.request_in(0, Op::TransactionStart, &[b"\0"], "")?;
        let id = crate::ops::parse_decimal(Op::TransactionStart, &reply)?;
        Ok(Transaction::new(self.clone(), id))
    }

    /// Runs `body` in a transaction and commits, starting over when xenstored reports a
    /// conflict (EAGAIN) as long as the retry policy allows.
    pub fn transact<T>(&self, mut body: impl FnMut(&Transaction) -> Result<T>) -> Result<T> {
        let policy = self.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.transaction()?;
            let outcome = body(&tx).and_then(|v| tx.commit().map(|()| v));
            match outcome {
                Err(e) if e.is_conflict() && attempt < policy.max_attempts => {
                    tracing::debug!(attempt, "transaction conflicted; retrying");
                    std::thread::sleep(policy.backoff(attempt));
                }
                Err(e) if e.is_conflict() => {
                    return Err(Error::RetriesExhausted { attempts: attempt })
                }
                other => return other,
            }
        }
    }

    /// The home path of a domain, e.g. `/local/domain/5`.
    pub fn get_domain_path(&self, domid: u32) -> Result<String> {
        let id = domid.to_string();
        let reply = self.request_in(0, Op::GetDomainPath, &[id.as_bytes(), b"\0"], &id)?;
        crate::ops::parse_string(Op::GetDomainPath, &reply)
    }

    /// Whether xenstored knows the domain (`XS_IS_DOMAIN_INTRODUCED`).
    pub fn is_domain_introduced(&self, domid: u32) -> Result<bool> {
        let id = domid.to_string();
        let reply = self.request_in(0, Op::IsDomainIntroduced, &[id.as_bytes(), b"\0"], &id)?;
        Ok(crate::ops::parse_string(Op::IsDomainIntroduced, &reply)? == "T")
    }

    /// Tells xenstored about a new domain's ring page and event channel (dom0 only).
    pub fn introduce(&self, domid: u32, gfn: u64, port: u32) -> Result<()> {
        let args = format!("{domid}\0{gfn}\0{port}\0");
        let reply = self.request_in(0, Op::Introduce, &[args.as_bytes()], &domid.to_string())?;
        crate::ops::expect_ok(Op::Introduce, &reply)
    }

    /// Tells xenstored a domain is gone (dom0 only); fires `@releaseDomain`.
    pub fn release(&self, domid: u32) -> Result<()> {
        let id = domid.to_string();
        let reply = self.request_in(0, Op::Release, &[id.as_bytes(), b"\0"], &id)?;
        crate::ops::expect_ok(Op::Release, &reply)
    }
}

impl Ops for Client {
    fn request(&self, op: Op, parts: &[&[u8]], subject: &str) -> Result<Vec<u8>> {
        self.request_in(0, op, parts, subject)
    }

    fn pipelined(&self, op: Op, paths: &[String]) -> Vec<Result<Vec<u8>>> {
        self.pipelined_in(0, op, paths)
    }
}
