//! A small HTTP/1.1 server on loopback. Written on std's `TcpListener` rather than a server crate
//! because fault injection needs byte-level control (reset after N body bytes, a Content-Length
//! larger than what is sent, stalling between header and body) that server crates hide.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A misbehaviour for the next request(s) to a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer 404 Not Found.
    NotFound,
    /// Answer 500 Internal Server Error.
    ServerError,
    /// Answer 429 Too Many Requests with `Retry-After: secs`.
    TooManyRequests { retry_after_secs: u64 },
    /// Answer 503 Service Unavailable with `Retry-After: secs`.
    Unavailable { retry_after_secs: u64 },
    /// Send the headers and `after` body bytes, then reset the connection (RST).
    ResetMidBody { after: usize },
    /// Announce the full Content-Length but send only `send` bytes, then close cleanly.
    Truncate { send: usize },
    /// Send the headers, then wait this long before the body (past a client read timeout).
    Stall(Duration),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path with query string, as sent.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

/// A dynamic answer for [`HttpServer::route`].
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What serves a CGI-style dynamic prefix (used by the git server).
pub(crate) type Handler =
    Arc<dyn Fn(&RequestRecord, &[u8], &mut TcpStream) -> std::io::Result<()> + Send + Sync>;

#[derive(Default)]
struct State {
    files: HashMap<String, Arc<Vec<u8>>>,
    faults: HashMap<String, VecDeque<Fault>>,
    log: Vec<RequestRecord>,
    prefixes: Vec<(String, Handler)>,
}

/// A loopback HTTP server. Dropping it stops accepting connections.
pub struct HttpServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    /// Start on 127.0.0.1 with a free port.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                thread::spawn(move || {
                    let _ = serve_connection(conn, &st);
                });
            }
        });
        Ok(Self { addr, state, stop })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url() + path`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve `body` at `path` (replacing what was there).
    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.lock()
            .files
            .insert(path.to_owned(), Arc::new(body.into()));
    }

    /// Serve the contents of a file at `path` (read once, now).
    pub fn put_file(&self, path: &str, file: impl Into<PathBuf>) -> std::io::Result<()> {
        let data = std::fs::read(file.into())?;
        self.put(path, data);
        Ok(())
    }

    /// Stop serving `path` (it then answers 404).
    pub fn remove(&self, path: &str) {
        self.lock().files.remove(path);
    }

    /// Misbehave with `fault` on the next `times` requests to `path`, then serve normally.
    pub fn inject(&self, path: &str, fault: Fault, times: usize) {
        let mut st = self.lock();
        let q = st.faults.entry(path.to_owned()).or_default();
        q.extend(std::iter::repeat_n(fault, times));
    }

    /// Drop all pending faults.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Requests seen so far (all paths).
    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    /// Requests seen so far whose path (without query) is `path`.
    pub fn request_count_for(&self, path: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.target.split('?').next() == Some(path))
            .count()
    }

    /// A copy of the request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().log.clone()
    }

    /// Answer every request under `prefix` with `reply` (after any injected fault),
    /// for APIs whose answers depend on the request (conditional requests, pages).
    pub fn route(
        &self,
        prefix: &str,
        reply: impl Fn(&RequestRecord) -> Reply + Send + Sync + 'static,
    ) {
        let handler: Handler = Arc::new(move |rec, _body, out| {
            let r = reply(rec);
            write!(
                out,
                "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
                r.status,
                reason(r.status),
                r.body.len()
            )?;
            for (k, v) in &r.headers {
                write!(out, "{k}: {v}\r\n")?;
            }
            out.write_all(b"\r\n")?;
            out.write_all(&r.body)
        });
        self.mount(prefix, handler);
    }

    pub(crate) fn mount(&self, prefix: &str, handler: Handler) {
        self.lock().prefixes.push((prefix.to_owned(), handler));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking handler thread must not take the whole test down with a poison error.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(conn: TcpStream, state: &Arc<Mutex<State>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let body_len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let mut b = vec![0u8; body_len];
            reader.read_exact(&mut b)?;
            b
        };
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let rec = RequestRecord {
            method,
            target,
            headers,
        };
        let path = rec.target.split('?').next().unwrap_or("").to_owned();
        let (fault, file, handler) = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.log.push(rec.clone());
            let fault = st.faults.get_mut(&path).and_then(|q| q.pop_front());
            let handler = st
                .prefixes
                .iter()
                .find(|(p, _)| path.starts_with(p.as_str()))
                .map(|(_, h)| h.clone());
            (fault, st.files.get(&path).cloned(), handler)
        };
        let keep = match (fault, file, handler) {
            (Some(f), file, _) => apply_fault(&mut out, f, file.as_deref())?,
            (None, _, Some(h)) => {
                h(&rec, &body, &mut out)?;
                false
            }
            (None, Some(file), None) => {
                if rec.method == "HEAD" {
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        file.len()
                    )?;
                } else {
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                        file.len()
                    )?;
                    out.write_all(&file)?;
                }
                true
            }
            (None, None, None) => {
                status(&mut out, 404, "Not Found", &[])?;
                true
            }
        };
        out.flush()?;
        if !keep || close {
            return Ok(());
        }
    }
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0u8; n + 2];
        r.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

fn status(
    out: &mut TcpStream,
    code: u16,
    reason: &str,
    extra: &[(&str, String)],
) -> std::io::Result<()> {
    let body = format!("{code} {reason}\n");
    write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    )?;
    for (k, v) in extra {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "\r\n{body}")
}

/// Returns whether the connection may be kept alive.
fn apply_fault(out: &mut TcpStream, fault: Fault, file: Option<&Vec<u8>>) -> std::io::Result<bool> {
    let empty = Vec::new();
    let file = file.unwrap_or(&empty);
    let head = |out: &mut TcpStream| {
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            file.len()
        )
    };
    match fault {
        Fault::NotFound => status(out, 404, "Not Found", &[])?,
        Fault::ServerError => status(out, 500, "Internal Server Error", &[])?,
        Fault::TooManyRequests { retry_after_secs } => status(
            out,
            429,
            "Too Many Requests",
            &[("Retry-After", retry_after_secs.to_string())],
        )?,
        Fault::Unavailable { retry_after_secs } => status(
            out,
            503,
            "Service Unavailable",
            &[("Retry-After", retry_after_secs.to_string())],
        )?,
        Fault::ResetMidBody { after } => {
            head(out)?;
            out.write_all(&file[..after.min(file.len())])?;
            out.flush()?;
            // SO_LINGER 0 makes close() send RST instead of FIN: a real reset.
            socket2::SockRef::from(&*out).set_linger(Some(Duration::ZERO))?;
            return Ok(false);
        }
        Fault::Truncate { send } => {
            head(out)?;
            out.write_all(&file[..send.min(file.len())])?;
            out.flush()?;
            out.shutdown(std::net::Shutdown::Write)?;
            return Ok(false);
        }
        Fault::Stall(d) => {
            head(out)?;
            out.flush()?;
            thread::sleep(d);
            let _ = out.write_all(file);
            return Ok(false);
        }
    }
    Ok(true)
}
