//! The xenstore load test: many clients at once, counters incremented in
//! conflicting transactions (EAGAIN retried by the library), a watcher that must
//! see every write. Afterwards nothing may be lost and no event missed.

use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xenstore_client::{Client, Ops, RetryPolicy};

/// Shape of one load run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub threads: usize,
    pub increments_per_thread: usize,
}

/// What happened, for the check's detail line.
#[derive(Debug)]
pub struct LoadReport {
    pub operations: u64,
    pub conflicts: u64,
    pub events: usize,
    pub elapsed: Duration,
}

fn open() -> Result<Client> {
    let mut c = Client::open().context("connecting to xenstored")?;
    // Many writers on one counter conflict a lot: allow long retry chains.
    c.set_retry_policy(RetryPolicy {
        max_attempts: 10_000,
        initial_backoff: Duration::from_micros(200),
        max_backoff: Duration::from_millis(20),
    });
    Ok(c)
}

/// Two transactions that read the counter and write different values: the
/// second commit must fail with EAGAIN. (Different values matter: oxenstored
/// replays a conflicting transaction and lets it commit if the replay reads
/// and writes the same as the original did.)
fn forced_conflict(counter: &str) -> Result<()> {
    let (a, b) = (open()?, open()?);
    let ta = a.transaction()?;
    let tb = b.transaction()?;
    ta.read(counter)?;
    tb.read(counter)?;
    ta.write(counter, b"conflict-a")?;
    tb.write(counter, b"conflict-b")?;
    ta.commit().context("first of two overlapping commits")?;
    match tb.commit() {
        Err(e) if e.is_conflict() => {}
        Err(e) => bail!("second overlapping commit failed with {e}, expected EAGAIN"),
        Ok(()) => {
            bail!("second overlapping commit succeeded: the daemon did not detect the conflict")
        }
    }
    let v = a.read(counter)?;
    ensure!(
        v == b"conflict-a",
        "after the conflict the counter holds {:?}",
        String::from_utf8_lossy(&v)
    );
    Ok(())
}

/// `Client::transact` must rerun its body after a conflict: a second client
/// changes the node between the body's read and the commit on the first attempt.
fn retried_conflict(counter: &str) -> Result<u32> {
    let (c, other) = (open()?, open()?);
    let mut attempts = 0;
    c.transact(|tx| {
        attempts += 1;
        let v = tx.read(counter)?;
        if attempts == 1 {
            other.write(counter, b"interfering")?;
        }
        let mut next = v;
        next.extend_from_slice(b"+1");
        tx.write(counter, &next)
    })?;
    let v = c.read(counter)?;
    ensure!(
        attempts == 2,
        "transact ran its body {attempts} times, expected 2 (one EAGAIN retry)"
    );
    ensure!(
        v == b"interfering+1",
        "after the retried transaction the counter holds {:?}",
        String::from_utf8_lossy(&v)
    );
    Ok(attempts)
}

/// One transaction in SHARED_EVERY also increments the shared counter.
const SHARED_EVERY: usize = 4;

fn increment(tx: &xenstore_client::Transaction, path: &str) -> xenstore_client::Result<()> {
    let v = tx.read(path)?;
    // A non-number is left as is by writing it back unchanged plus a marker, so the final count check fails loudly.
    let next = match std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => (n + 1).to_string(),
        None => format!("corrupt:{}", String::from_utf8_lossy(&v)),
    };
    tx.write(path, next.as_bytes())
}

pub fn run(base: &str, load: Load) -> Result<LoadReport> {
    let start = Instant::now();
    let c = open()?;
    let _ = c.rm(base);
    let counter = format!("{base}/counter");
    let watched = format!("{base}/w");
    c.write(&counter, b"0")?;
    c.mkdir(&watched)?;
    forced_conflict(&counter)?;
    retried_conflict(&counter)?;
    c.write(&counter, b"0")?;
    // Requests so far: rm, write, mkdir; 10 for the forced conflict; 9 for the retried one; write.
    let ops = Arc::new(AtomicU64::new(23));
    let conflicts = Arc::new(AtomicU64::new(2));

    // The watcher has its own connection; its first event is the registration fire.
    let watcher = open()?;
    watcher.watch(&watched, "load")?;
    let total = load.threads * load.increments_per_thread;
    let expected: BTreeSet<String> = (0..load.threads)
        .flat_map(|t| (0..load.increments_per_thread).map(move |k| format!("t{t}/{k}")))
        .map(|n| format!("{watched}/{n}"))
        .collect();
    let watch_thread = {
        let expected = expected.clone();
        let watched = watched.clone();
        std::thread::spawn(move || -> Result<BTreeSet<String>> {
            let mut seen = BTreeSet::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            while !expected.is_subset(&seen) {
                let left = deadline.saturating_duration_since(Instant::now());
                ensure!(
                    !left.is_zero(),
                    "watcher: {} of {} events after 300 s",
                    seen.len(),
                    expected.len()
                );
                match watcher.read_watch(Some(left.min(Duration::from_secs(5))))? {
                    Some(ev) if ev.path == watched => {} // the registration fire
                    Some(ev) => {
                        ensure!(
                            ev.token == "load",
                            "event with foreign token {:?}",
                            ev.token
                        );
                        seen.insert(ev.path);
                    }
                    None => {}
                }
            }
            Ok(seen)
        })
    };

    // Each thread increments its own counter in every transaction and the shared
    // one in every SHARED_EVERY-th: the shared ones conflict, the others must not
    // be disturbed by them.
    let workers: Vec<_> = (0..load.threads)
        .map(|t| {
            let (counter, watched, own) =
                (counter.clone(), watched.clone(), format!("{base}/own-{t}"));
            let (ops, conflicts) = (ops.clone(), conflicts.clone());
            std::thread::spawn(move || -> Result<()> {
                let c = open()?;
                c.write(&own, b"0")?;
                for k in 0..load.increments_per_thread {
                    let shared = k % SHARED_EVERY == 0;
                    let mut attempts = 0u64;
                    c.transact(|tx| {
                        attempts += 1;
                        increment(tx, &own)?;
                        if shared {
                            increment(tx, &counter)?;
                        }
                        Ok(())
                    })?;
                    // start, read, write, [read, write,] commit per attempt; then the watched write.
                    let per_attempt = if shared { 6 } else { 4 };
                    ops.fetch_add(attempts * per_attempt + 1, Ordering::Relaxed);
                    conflicts.fetch_add(attempts - 1, Ordering::Relaxed);
                    c.write(&format!("{watched}/t{t}/{k}"), k.to_string().as_bytes())?;
                }
                ops.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    for (t, w) in workers.into_iter().enumerate() {
        w.join()
            .map_err(|_| anyhow::anyhow!("worker {t} panicked"))??;
    }
    let seen = watch_thread
        .join()
        .map_err(|_| anyhow::anyhow!("watcher panicked"))??;

    // Nothing lost: the counters count every increment, every watched key is there.
    let shared_total = load.threads * load.increments_per_thread.div_ceil(SHARED_EVERY);
    let n = String::from_utf8(c.read(&counter)?)?;
    ensure!(
        n == shared_total.to_string(),
        "shared counter is {n} after {shared_total} committed increments"
    );
    for t in 0..load.threads {
        let own = String::from_utf8(c.read(&format!("{base}/own-{t}"))?)?;
        ensure!(
            own == load.increments_per_thread.to_string(),
            "thread {t}'s counter is {own} after {} increments",
            load.increments_per_thread
        );
    }
    // One folder per thread keeps each listing within one 4096-byte reply.
    let mut names = BTreeSet::new();
    for t in 0..load.threads {
        let dir = format!("{watched}/t{t}");
        names.extend(c.directory(&dir)?.into_iter().map(|n| format!("{dir}/{n}")));
    }
    ensure!(
        names == expected,
        "{} of {} watched keys present",
        names.intersection(&expected).count(),
        total
    );
    let missed: Vec<&String> = expected.difference(&seen).take(5).collect();
    ensure!(missed.is_empty(), "no watch event for {missed:?}");
    c.rm(base)?;
    Ok(LoadReport {
        operations: ops.load(Ordering::Relaxed) + 2 + 2 * load.threads as u64,
        conflicts: conflicts.load(Ordering::Relaxed),
        events: seen.len(),
        elapsed: start.elapsed(),
    })
}
