//! Downloads against the loopback server of `test-servers`, with every fault it can inject.

use std::time::Duration;

use source_fetch::{DownloadCache, FetchError, FetchOptions, Fetcher, Sha256Digest, UrlRewrites};
use test_servers::{Fault, HttpServer};

const PATH: &str = "/releases/xen-4.17.4.tar.gz";

fn body() -> Vec<u8> {
    (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A server with one file, a fetcher whose URLs are rewritten from a fake upstream to it.
fn setup(attempts: u32) -> (HttpServer, Fetcher, tempfile::TempDir, Vec<u8>) {
    let server = HttpServer::start().unwrap();
    let data = body();
    server.put(PATH, data.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut rewrites = UrlRewrites::new();
    rewrites.push(
        "https://downloads.xenproject.org/",
        format!("{}/", server.base_url()),
    );
    let opts = FetchOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        quiet: true,
        rewrites,
    };
    let fetcher =
        Fetcher::new(opts, DownloadCache::open(dir.path().join("cache")).unwrap()).unwrap();
    (server, fetcher, dir, data)
}

const UPSTREAM: &str = "https://downloads.xenproject.org/releases/xen-4.17.4.tar.gz";

#[test]
fn download_hashes_in_one_pass_and_cache_hit_does_no_network_io() {
    let (server, f, _dir, data) = setup(2);
    let expected = Sha256Digest::of_bytes(&data);
    let got = f.fetch(UPSTREAM, Some(&expected)).unwrap();
    assert!(!got.from_cache);
    assert_eq!((got.sha256, got.len), (expected, data.len() as u64));
    assert_eq!(got.url, server.url(PATH));
    assert_eq!(std::fs::read(&got.path).unwrap(), data);
    // sha256sum agrees with the hash computed while streaming.
    let out = std::process::Command::new("sha256sum")
        .arg(&got.path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&expected.to_hex()));
    let before = server.request_count();
    assert_eq!(before, 1);

    let again = f.fetch(UPSTREAM, Some(&expected)).unwrap();
    assert!(again.from_cache);
    assert_eq!(again.path, got.path);
    assert_eq!(
        server.request_count(),
        before,
        "a cached, pinned fetch must not touch the network"
    );
    assert_eq!(f.cache().recorded_digest(&server.url(PATH)), Some(expected));
}

#[test]
fn unpinned_download_is_cached_under_its_hash() {
    let (_server, f, _dir, data) = setup(1);
    let got = f.fetch(UPSTREAM, None).unwrap();
    assert_eq!(got.sha256, Sha256Digest::of_bytes(&data));
    assert_eq!(f.cache().get(&got.sha256), Some(got.path));
}

#[test]
fn wrong_hash_is_refused_and_nothing_cached() {
    let (_server, f, _dir, _data) = setup(2);
    let wrong = Sha256Digest::of_bytes(b"not the tarball");
    let err = f.fetch(UPSTREAM, Some(&wrong)).unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("sha256 mismatch")
            && msg.contains(&wrong.to_hex())
            && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert!(f.cache().get(&wrong).is_none());
    let tmp_left = std::fs::read_dir(f.cache().root().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp_left, 0, "the temp file must be removed");
}

#[test]
fn not_found_fails_at_once_then_rerun_succeeds() {
    let (server, f, _dir, data) = setup(3);
    server.inject(PATH, Fault::NotFound, 1);
    let err = f.fetch(UPSTREAM, None).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&server.url(PATH)) && err.to_string().contains("404"),
        "{err}"
    );
    assert_eq!(server.request_count(), 1, "404 is not retried");
    assert_eq!(
        f.fetch(UPSTREAM, None).unwrap().sha256,
        Sha256Digest::of_bytes(&data)
    );
}

/// Fails on every attempt with `fault`, returns the error; then a rerun without faults succeeds.
fn persistent_fault(fault: Fault) -> String {
    let attempts = 2;
    let (server, f, _dir, data) = setup(attempts);
    server.inject(PATH, fault, attempts as usize);
    let err = f
        .fetch(UPSTREAM, Some(&Sha256Digest::of_bytes(&data)))
        .unwrap_err();
    assert_eq!(
        server.request_count(),
        attempts as usize,
        "bounded retries: {err}"
    );
    assert!(
        matches!(err, FetchError::GaveUp { attempts: 2, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&server.url(PATH)),
        "the error names the URL: {msg}"
    );
    assert!(f.cache().get(&Sha256Digest::of_bytes(&data)).is_none());
    let ok = f
        .fetch(UPSTREAM, Some(&Sha256Digest::of_bytes(&data)))
        .unwrap();
    assert_eq!(ok.len, data.len() as u64);
    msg
}

#[test]
fn server_error_is_retried_then_reported() {
    let msg = persistent_fault(Fault::ServerError);
    assert!(msg.contains("HTTP 500"), "{msg}");
}

#[test]
fn reset_mid_body_is_retried_then_reported() {
    let msg = persistent_fault(Fault::ResetMidBody { after: 100_000 });
    assert!(
        msg.contains("network error") || msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn truncated_body_is_retried_then_reported() {
    let msg = persistent_fault(Fault::Truncate { send: 123_456 });
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn stall_past_timeout_is_retried_then_reported() {
    let msg = persistent_fault(Fault::Stall(Duration::from_secs(3)));
    assert!(msg.contains("timed out"), "{msg}");
}

#[test]
fn too_many_requests_honours_retry_after_then_succeeds() {
    let (server, f, _dir, data) = setup(3);
    server.inject(
        PATH,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    server.inject(
        PATH,
        Fault::Unavailable {
            retry_after_secs: 1,
        },
        1,
    );
    let t0 = std::time::Instant::now();
    let got = f.fetch(UPSTREAM, None).unwrap();
    assert_eq!(got.sha256, Sha256Digest::of_bytes(&data));
    assert_eq!(server.request_count(), 3);
    // Not a timing test of speed: the client must have waited at least what the server asked.
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "Retry-After ignored: {:?}",
        t0.elapsed()
    );
}

#[test]
fn retry_after_longer_than_allowed_fails_clearly() {
    let (server, f, _dir, _data) = setup(3);
    server.inject(
        PATH,
        Fault::TooManyRequests {
            retry_after_secs: 3600,
        },
        1,
    );
    let err = f.fetch(UPSTREAM, None).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::RetryAfterTooLong {
                status: 429,
                secs: 3600,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.request_count(), 1);
    assert!(f.fetch(UPSTREAM, None).is_ok());
}

#[test]
fn fetch_bytes_reads_small_files() {
    let (server, f, _dir, _data) = setup(2);
    server.put("/releases/xen-4.17.4.tar.gz.sig", b"sig bytes".to_vec());
    server.inject("/releases/xen-4.17.4.tar.gz.sig", Fault::ServerError, 1);
    let b = f
        .fetch_bytes("https://downloads.xenproject.org/releases/xen-4.17.4.tar.gz.sig")
        .unwrap();
    assert_eq!(b, b"sig bytes");
}

#[test]
fn connection_refused_names_the_url() {
    let (server, f, _dir, _data) = setup(1);
    let dead = server.base_url();
    drop(server);
    std::thread::sleep(Duration::from_millis(50));
    let err = f.fetch(&format!("{dead}/gone.tar.gz"), None).unwrap_err();
    assert!(
        err.to_string().contains(&format!("{dead}/gone.tar.gz")),
        "{err}"
    );
}

#[test]
fn immutable_urls_are_reused_from_cache_without_network_io() {
    let (server, f, _dir, data) = setup(2);
    let first = f.fetch_immutable(UPSTREAM).unwrap();
    assert!(!first.from_cache);
    let n = server.request_count();
    let again = f.fetch_immutable(UPSTREAM).unwrap();
    assert!(again.from_cache);
    assert_eq!(
        (again.sha256, server.request_count()),
        (Sha256Digest::of_bytes(&data), n)
    );
}
