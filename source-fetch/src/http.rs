//! HTTP downloads: rewrite the URL, stream the body to a temp file in the cache while hashing it
//! (one pass), verify the expected sha256, insert atomically. Timeouts on connect and on every
//! read, bounded retries with exponential backoff, `Retry-After` honoured on 429/503.

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use content_hash::{Sha256Digest, Sha256Hasher};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;

use crate::{CacheError, DownloadCache, UrlRewrites};

/// How a [`Fetcher`] behaves on the network.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the response head or for any single read of the body.
    pub read_timeout: Duration,
    /// Attempts per URL, including the first (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` we agree to wait; a server asking for more fails the fetch.
    pub max_retry_after: Duration,
    /// No progress bar even on a terminal.
    pub quiet: bool,
    /// Rules applied to every URL before use.
    pub rewrites: UrlRewrites,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            quiet: false,
            rewrites: UrlRewrites::new(),
        }
    }
}

/// A download failed. Every variant names the URL (after rewriting) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a non-success status.
    #[error("GET {url}: HTTP {status}{}", hint_for_status(*status))]
    Status { url: String, status: u16 },
    /// Connecting, sending or reading failed (refused, reset, TLS, ...).
    #[error(
        "GET {url}: network error: {what}; check the URL, the network or a --url-rewrite mirror"
    )]
    Network { url: String, what: String },
    /// No response head or no body bytes within the timeout.
    #[error("GET {url}: timed out (no data for {secs} s); the server stalled, retry later or use a mirror")]
    Timeout { url: String, secs: u64 },
    /// The body ended before the announced Content-Length.
    #[error("GET {url}: truncated body: got {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    /// The bytes do not have the pinned hash; nothing was cached.
    #[error("GET {url}: sha256 mismatch: expected {expected}, got {actual} ({len} bytes); the pin or the upstream file is wrong — nothing was kept")]
    HashMismatch {
        url: String,
        expected: Sha256Digest,
        actual: Sha256Digest,
        len: u64,
    },
    /// An API's rate limit is exhausted until a reset time (GitHub: 403/429 with
    /// `x-ratelimit-remaining: 0`); retried after the reset when that is soon enough.
    #[error("GET {url}: rate limit exhausted, resets in {reset_in_secs} s; set a token (GITHUB_TOKEN) or retry later")]
    RateLimited { url: String, reset_in_secs: u64 },
    /// The server asked to wait longer than we allow.
    #[error("GET {url}: HTTP {status} asks to retry after {secs} s, more than the {max} s allowed; try again later")]
    RetryAfterTooLong {
        url: String,
        status: u16,
        secs: u64,
        max: u64,
    },
    /// Every attempt failed; holds the last error.
    #[error("giving up after {attempts} attempts: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<FetchError>,
    },
    /// The cache could not be written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Writing the temp file failed.
    #[error("writing {path} for {url}: {source}")]
    Io {
        url: String,
        path: PathBuf,
        source: io::Error,
    },
    /// The HTTP client could not be set up.
    #[error("setting up the HTTP client: {0}")]
    Client(String),
}

fn hint_for_status(status: u16) -> &'static str {
    match status {
        404 => " Not Found; check the version/tag and the URL (or its --url-rewrite)",
        401 | 403 => " Forbidden; the server refuses this URL",
        429 => " Too Many Requests; retry later",
        500..=599 => " server error; retry later or use a mirror",
        _ => "",
    }
}

impl FetchError {
    /// Worth another attempt: transient server states and transport failures.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            FetchError::Network { .. }
            | FetchError::RateLimited { .. }
            | FetchError::Timeout { .. }
            | FetchError::Truncated { .. } => true,
            _ => false,
        }
    }

    /// The underlying error when retries gave up, else `self`.
    pub fn last(&self) -> &FetchError {
        match self {
            FetchError::GaveUp { last, .. } => last,
            e => e,
        }
    }
}

/// A completed download.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL actually used (after rewriting).
    pub url: String,
    /// The cached file (content-addressed; do not modify).
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub len: u64,
    /// True when served from the cache without network I/O.
    pub from_cache: bool,
}

/// An API answer: 200 with its body, or 304 Not Modified for a conditional request.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The URL actually used (after rewriting).
    pub url: String,
    pub status: u16,
    /// Response headers, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// Downloads into a [`DownloadCache`]. Cheap to share by reference; thread-safe.
pub struct Fetcher {
    client: Client,
    opts: FetchOptions,
    cache: DownloadCache,
}

/// Outcome of one attempt: the error and an optional server-requested delay.
type Attempt<T> = Result<T, (FetchError, Option<Duration>)>;

impl Fetcher {
    /// A fetcher with `opts` and `cache`.
    pub fn new(opts: FetchOptions, cache: DownloadCache) -> Result<Self, FetchError> {
        let client = Client::builder()
            .connect_timeout(opts.connect_timeout)
            // In reqwest's blocking client this bounds the wait for the head and each body read.
            .timeout(opts.read_timeout)
            .user_agent(concat!("qubes-xen-kit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            opts,
            cache,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &FetchOptions {
        &self.opts
    }

    /// The cache.
    pub fn cache(&self) -> &DownloadCache {
        &self.cache
    }

    /// `url` after the rewrite rules.
    pub fn rewrite(&self, url: &str) -> String {
        self.opts.rewrites.apply(url)
    }

    /// Download `url` into the cache. With `expected` set and already cached, no network I/O
    /// happens; otherwise the body is hashed while written and must match `expected`.
    pub fn fetch(&self, url: &str, expected: Option<&Sha256Digest>) -> Result<Fetched, FetchError> {
        let url = self.rewrite(url);
        if let Some(d) = expected {
            if let Some(path) = self.cache.get(d) {
                tracing::debug!(%url, sha256 = %d, "cache hit");
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                return Ok(Fetched {
                    url,
                    path,
                    sha256: *d,
                    len,
                    from_cache: true,
                });
            }
        }
        let (tmp, sha256, len) = self.with_retries(&url, |u| self.download_once(u))?;
        if let Some(exp) = expected {
            if *exp != sha256 {
                return Err(FetchError::HashMismatch {
                    url,
                    expected: *exp,
                    actual: sha256,
                    len,
                });
            }
        }
        let path = self.cache.insert(tmp, &sha256)?;
        self.cache.record_url(&url, &sha256)?;
        tracing::info!(%url, %sha256, len, "downloaded");
        Ok(Fetched {
            url,
            path,
            sha256,
            len,
            from_cache: false,
        })
    }

    /// Like [`Self::fetch`] without a pin, for URLs whose content never changes (release tarballs
    /// and their `.sig`): when this URL was downloaded before and its content is still cached,
    /// no network I/O happens. Verify what it returns (signature or pin) as usual.
    pub fn fetch_immutable(&self, url: &str) -> Result<Fetched, FetchError> {
        let real = self.rewrite(url);
        if let Some(d) = self.cache.recorded_digest(&real) {
            return self.fetch(url, Some(&d));
        }
        self.fetch(url, None)
    }

    /// Download a small body (a `.sig`, a checksum list) into memory, with the same retries.
    pub fn fetch_bytes(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let url = self.rewrite(url);
        self.with_retries(&url, |u| {
            let resp = self.get(u)?;
            self.read_body(u, resp)
        })
    }

    /// A small API request (JSON listings) with extra headers (`If-None-Match`,
    /// `Authorization`), under the same timeouts, retries and `Retry-After` rules as
    /// downloads. 304 is an answer, not an error; an exhausted rate limit is waited
    /// out when it resets within `max_retry_after`, else it fails naming the reset.
    pub fn get_api(&self, url: &str, headers: &[(&str, &str)]) -> Result<ApiResponse, FetchError> {
        let url = self.rewrite(url);
        self.with_retries(&url, |u| {
            let mut req = self.client.get(u);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req
                .send()
                .map_err(|e| (request_error(u, &e, self.opts.read_timeout), None))?;
            let status = resp.status();
            let head: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned()))
                })
                .collect();
            let get = |name: &str| {
                head.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            if status == StatusCode::NOT_MODIFIED {
                return Ok(ApiResponse {
                    url: u.to_owned(),
                    status: 304,
                    headers: head,
                    body: Vec::new(),
                });
            }
            if matches!(
                status,
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
            ) && get("x-ratelimit-remaining") == Some("0")
            {
                let reset = get("x-ratelimit-reset")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let wait = Duration::from_secs(reset.saturating_sub(now) + 1);
                return Err((
                    FetchError::RateLimited {
                        url: u.to_owned(),
                        reset_in_secs: wait.as_secs(),
                    },
                    Some(wait),
                ));
            }
            if !status.is_success() {
                let retry_after = if matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                ) {
                    get("retry-after").and_then(parse_retry_after)
                } else {
                    None
                };
                return Err((
                    FetchError::Status {
                        url: u.to_owned(),
                        status: status.as_u16(),
                    },
                    retry_after,
                ));
            }
            let body = self.read_body(u, resp)?;
            Ok(ApiResponse {
                url: u.to_owned(),
                status: status.as_u16(),
                headers: head,
                body,
            })
        })
    }

    /// A whole small body in memory; a short or broken body is a (retryable) error.
    fn read_body(&self, url: &str, mut resp: Response) -> Attempt<Vec<u8>> {
        let expected = resp.content_length();
        let mut body = Vec::new();
        if let Err(e) = resp.read_to_end(&mut body) {
            let got = body.len() as u64;
            return Err((
                body_error(url, &e, self.opts.read_timeout, got, expected),
                None,
            ));
        }
        check_len(url, body.len() as u64, expected).map_err(|e| (e, None))?;
        Ok(body)
    }

    fn with_retries<T>(
        &self,
        url: &str,
        mut once: impl FnMut(&str) -> Attempt<T>,
    ) -> Result<T, FetchError> {
        let max = self.opts.max_attempts.max(1);
        let mut backoff = self.opts.initial_backoff;
        for attempt in 1..=max {
            let (err, retry_after) = match once(url) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_transient() || attempt == max {
                return Err(if attempt > 1 {
                    FetchError::GaveUp {
                        attempts: attempt,
                        last: Box::new(err),
                    }
                } else {
                    err
                });
            }
            let wait = match retry_after {
                Some(ra) if ra > self.opts.max_retry_after => {
                    let status = match &err {
                        FetchError::Status { status, .. } => *status,
                        _ => 0,
                    };
                    return Err(FetchError::RetryAfterTooLong {
                        url: url.to_owned(),
                        status,
                        secs: ra.as_secs(),
                        max: self.opts.max_retry_after.as_secs(),
                    });
                }
                Some(ra) => ra,
                None => backoff,
            };
            tracing::warn!(%url, attempt, max, wait_ms = wait.as_millis() as u64, "retrying: {err}");
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(self.opts.max_backoff);
        }
        unreachable!("the loop returns on the last attempt")
    }

    fn get(&self, url: &str) -> Attempt<Response> {
        let resp = self
            .client
            .get(url)
            .send()
            .map_err(|e| (request_error(url, &e, self.opts.read_timeout), None))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after)
        } else {
            None
        };
        Err((
            FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            },
            retry_after,
        ))
    }

    fn download_once(&self, url: &str) -> Attempt<(tempfile::NamedTempFile, Sha256Digest, u64)> {
        let mut resp = self.get(url)?;
        let expected_len = resp.content_length();
        let mut tmp = self.cache.temp_file().map_err(|e| (e.into(), None))?;
        let bar = self.progress(url, expected_len);
        let mut hasher = Sha256Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bar.abandon();
                    let err =
                        body_error(url, &e, self.opts.read_timeout, hasher.len(), expected_len);
                    return Err((err, None));
                }
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(|source| {
                (
                    FetchError::Io {
                        url: url.to_owned(),
                        path: tmp.path().to_owned(),
                        source,
                    },
                    None,
                )
            })?;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        let len = hasher.len();
        check_len(url, len, expected_len).map_err(|e| (e, None))?;
        Ok((tmp, hasher.finalize(), len))
    }

    fn progress(&self, url: &str, len: Option<u64>) -> ProgressBar {
        if self.opts.quiet || !io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let name = url.rsplit('/').next().unwrap_or(url).to_owned();
        bar.set_message(name);
        bar
    }
}

fn check_len(url: &str, got: u64, expected: Option<u64>) -> Result<(), FetchError> {
    match expected {
        Some(exp) if exp != got => Err(FetchError::Truncated {
            url: url.to_owned(),
            got,
            expected: exp,
        }),
        _ => Ok(()),
    }
}

/// `Retry-After` is either delay-seconds or an HTTP-date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

fn request_error(url: &str, e: &reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout {
            url: url.to_owned(),
            secs: timeout.as_secs().max(1),
        }
    } else {
        FetchError::Network {
            url: url.to_owned(),
            what: error_chain(e),
        }
    }
}

fn read_error(url: &str, e: &io::Error, timeout: Duration) -> FetchError {
    let chain = error_chain(e);
    if e.kind() == io::ErrorKind::TimedOut || chain.contains("timed out") {
        FetchError::Timeout {
            url: url.to_owned(),
            secs: timeout.as_secs().max(1),
        }
    } else {
        FetchError::Network {
            url: url.to_owned(),
            what: chain,
        }
    }
}

/// Classify a failed body read; hyper reports a body shorter than Content-Length as an I/O error.
fn body_error(
    url: &str,
    e: &io::Error,
    timeout: Duration,
    got: u64,
    expected: Option<u64>,
) -> FetchError {
    match (read_error(url, e, timeout), expected) {
        (FetchError::Network { what, .. }, Some(exp)) if what.contains("before message length") => {
            FetchError::Truncated {
                url: url.to_owned(),
                got,
                expected: exp,
            }
        }
        (other, _) => other,
    }
}

/// Hash an already downloaded file at `path` (for callers holding files outside the cache).
pub fn verify_file(path: &Path, expected: &Sha256Digest) -> io::Result<bool> {
    Ok(content_hash::hash_file(path)?.0 == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let future = SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(future)).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
