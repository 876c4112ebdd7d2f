//! Connections and request dispatch. One thread per connection; all state sits behind one
//! lock, and replies and watch events are written after the lock is released.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;

use crate::perms::{Perm, PermSet};
use crate::store::{Store, XsResult};

// Message types, from Xen 4.17 xs_wire.h.
const XS_CONTROL: u32 = 0;
const XS_DIRECTORY: u32 = 1;
const XS_READ: u32 = 2;
const XS_GET_PERMS: u32 = 3;
const XS_WATCH: u32 = 4;
const XS_UNWATCH: u32 = 5;
const XS_TRANSACTION_START: u32 = 6;
const XS_TRANSACTION_END: u32 = 7;
const XS_INTRODUCE: u32 = 8;
const XS_RELEASE: u32 = 9;
const XS_GET_DOMAIN_PATH: u32 = 10;
const XS_WRITE: u32 = 11;
const XS_MKDIR: u32 = 12;
const XS_RM: u32 = 13;
const XS_SET_PERMS: u32 = 14;
const XS_WATCH_EVENT: u32 = 15;
const XS_ERROR: u32 = 16;
const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
const XS_RESET_WATCHES: u32 = 21;
const XS_DIRECTORY_PART: u32 = 22;

const PAYLOAD_MAX: usize = 4096;
const ABS_PATH_MAX: usize = 3072;
const REL_PATH_MAX: usize = 2048;

/// A connection's outgoing queue. Replies and events are queued while the state lock is
/// held, so every connection sees changes in the order they happened; a writer thread per
/// connection drains it, so a slow reader never blocks the daemon.
type Writer = mpsc::Sender<Vec<u8>>;

struct Watch {
    conn: u64,
    /// The watching domain: it only hears about nodes it may read.
    dom: u32,
    /// Absolute path, or a special `@...` name.
    path: String,
    token: String,
    /// Prefix to strip from event paths when the watch was registered with a relative path.
    relative_to: Option<String>,
}

struct Txn {
    conn: u64,
    snapshot: Store,
    /// Changed paths, reported to watchers on commit.
    events: Vec<Change>,
}

#[derive(Clone)]
enum Change {
    /// Write, mkdir, set_perms: watches at or above the path fire.
    Modified(String),
    /// Removal: watches above fire, and watches inside the removed subtree fire too.
    Removed(String),
    Special(&'static str),
    /// The initial fire of a new watch, to its own connection only.
    Initial {
        conn: u64,
        path: String,
        token: String,
    },
}

#[derive(Default)]
struct Db {
    store: Store,
    txns: HashMap<u32, Txn>,
    next_tx: u32,
    watches: Vec<Watch>,
    writers: HashMap<u64, Writer>,
    /// Socket handles, to shut connections down when the server is dropped.
    streams: HashMap<u64, UnixStream>,
    introduced: BTreeSet<u32>,
}

struct Shared {
    db: Mutex<Db>,
    next_conn: AtomicU64,
    stopping: AtomicBool,
}

/// A running test xenstored. Dropping it stops accepting and closes open connections.
pub struct TestServer {
    shared: Arc<Shared>,
    socket: PathBuf,
    sockets: Mutex<Vec<PathBuf>>,
    _dir: Option<tempfile::TempDir>,
}

fn frame(kind: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    for w in [kind, req_id, tx_id, payload.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(payload);
    out
}

impl TestServer {
    /// Starts on a socket in a fresh temporary directory; connections there act as dom0.
    pub fn start() -> io::Result<TestServer> {
        let dir = tempfile::Builder::new()
            .prefix("xenstore-testd")
            .tempdir()?;
        let socket = dir.path().join("socket");
        let mut server = TestServer::start_at(&socket)?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Starts on `socket` (which must not exist); connections act as dom0.
    pub fn start_at(socket: &Path) -> io::Result<TestServer> {
        let shared = Arc::new(Shared {
            db: Mutex::default(),
            next_conn: AtomicU64::new(1),
            stopping: AtomicBool::new(false),
        });
        let server = TestServer {
            shared,
            socket: socket.to_path_buf(),
            sockets: Mutex::default(),
            _dir: None,
        };
        server.listen(socket, 0)?;
        Ok(server)
    }

    /// The dom0 socket, for `XENSTORED_PATH`.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Opens another socket whose connections act as domain `domid` (for permission tests;
    /// a real xenstored learns this from the ring a guest connects through).
    pub fn domain_socket(&self, domid: u32) -> io::Result<PathBuf> {
        let path = self.socket.with_file_name(format!("socket-dom{domid}"));
        self.listen(&path, domid)?;
        Ok(path)
    }

    /// Opens a socket at a chosen path whose connections act as `domid`.
    pub fn listen(&self, path: &Path, domid: u32) -> io::Result<()> {
        let listener = UnixListener::bind(path)?;
        if let Ok(mut s) = self.sockets.lock() {
            s.push(path.to_path_buf());
        }
        let shared = self.shared.clone();
        thread::Builder::new()
            .name(format!("xs-accept-{domid}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    let _ = thread::Builder::new()
                        .name("xs-conn".into())
                        .spawn(move || serve(shared, stream, domid));
                }
            })?;
        Ok(())
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.shared.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every node with its value, for comparing what different clients see.
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        self.db()
            .store
            .nodes
            .iter()
            .map(|(k, n)| (k.clone(), n.value.clone()))
            .collect()
    }

    /// A node's permissions as strings (`["n0", "r5"]`).
    pub fn perms(&self, path: &str) -> Option<Vec<String>> {
        self.db()
            .store
            .nodes
            .get(path)
            .map(|n| n.perms.0.iter().map(|p| p.to_string()).collect())
    }

    /// Number of watches registered over all connections.
    pub fn watch_count(&self) -> usize {
        self.db().watches.len()
    }

    /// Number of open transactions.
    pub fn transaction_count(&self) -> usize {
        self.db().txns.len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let sockets = self.sockets.lock().map(|s| s.clone()).unwrap_or_default();
        for s in sockets {
            let _ = UnixStream::connect(&s); // wakes the accept loop
            let _ = std::fs::remove_file(&s);
        }
        for stream in self.db().streams.values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

struct Conn {
    id: u64,
    dom: u32,
}

fn serve(shared: Arc<Shared>, stream: UnixStream, dom: u32) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (Ok(mut write_half), Ok(shutdown_handle)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let (writer, queue) = mpsc::channel::<Vec<u8>>();
    let drain = thread::Builder::new()
        .name("xs-write".into())
        .spawn(move || {
            for bytes in queue {
                if write_half.write_all(&bytes).is_err() {
                    break;
                }
            }
        });
    if drain.is_err() {
        return;
    }
    {
        let mut db = lock(&shared);
        db.writers.insert(id, writer.clone());
        db.streams.insert(id, shutdown_handle);
    }
    let conn = Conn { id, dom };
    let mut reader = io::BufReader::new(stream);
    loop {
        let mut head = [0u8; 16];
        if reader.read_exact(&mut head).is_err() {
            break;
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (kind, req_id, tx_id, len) = (word(0), word(4), word(8), word(12) as usize);
        if len > PAYLOAD_MAX {
            // xenstored drops connections that break the framing.
            break;
        }
        let mut payload = vec![0u8; len];
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        let mut db = lock(&shared);
        let (reply_kind, body, changes) = match handle(&mut db, &conn, kind, tx_id, &payload) {
            Ok((body, changes)) => (kind, body, changes),
            Err(name) => (XS_ERROR, format!("{name}\0").into_bytes(), Vec::new()),
        };
        if writer
            .send(frame(reply_kind, req_id, tx_id, &body))
            .is_err()
        {
            break;
        }
        for change in &changes {
            fire(&db, change);
        }
    }
    let mut db = lock(&shared);
    db.writers.remove(&id);
    db.streams.remove(&id);
    db.watches.retain(|w| w.conn != id);
    db.txns.retain(|_, t| t.conn != id);
}

fn lock(shared: &Shared) -> MutexGuard<'_, Db> {
    shared.db.lock().unwrap_or_else(|e| e.into_inner())
}

fn home(dom: u32) -> String {
    format!("/local/domain/{dom}")
}

/// Resolves a request path: absolute as is, relative under the domain's home.
fn resolve(raw: &str, dom: u32) -> XsResult<String> {
    let (abs, limit) = if raw.starts_with('/') {
        (raw.to_string(), ABS_PATH_MAX)
    } else {
        (format!("{}/{raw}", home(dom)), REL_PATH_MAX)
    };
    let valid = !raw.is_empty()
        && raw.len() <= limit
        && raw
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@'))
        && !abs.contains("//")
        && (abs == "/" || !abs.ends_with('/'));
    if valid {
        Ok(abs)
    } else {
        Err("EINVAL")
    }
}

/// Splits the payload into nul-terminated strings.
fn args(payload: &[u8]) -> XsResult<Vec<&str>> {
    let body = payload.strip_suffix(b"\0").ok_or("EINVAL")?;
    body.split(|b| *b == 0)
        .map(|s| std::str::from_utf8(s).map_err(|_| "EINVAL"))
        .collect()
}

fn one_arg(payload: &[u8]) -> XsResult<&str> {
    match args(payload)?.as_slice() {
        [a] => Ok(a),
        _ => Err("EINVAL"),
    }
}

fn ok() -> Vec<u8> {
    b"OK\0".to_vec()
}

type Handled = XsResult<(Vec<u8>, Vec<Change>)>;

fn handle(db: &mut Db, conn: &Conn, kind: u32, tx_id: u32, payload: &[u8]) -> Handled {
    match kind {
        XS_TRANSACTION_START => {
            if tx_id != 0 {
                return Err("EBUSY");
            }
            db.next_tx += 1;
            let id = db.next_tx;
            let mut snapshot = db.store.clone();
            snapshot.touched = Some(HashMap::new());
            db.txns.insert(
                id,
                Txn {
                    conn: conn.id,
                    snapshot,
                    events: Vec::new(),
                },
            );
            Ok((format!("{id}\0").into_bytes(), Vec::new()))
        }
        XS_TRANSACTION_END => {
            let commit = match one_arg(payload)? {
                "T" => true,
                "F" => false,
                _ => return Err("EINVAL"),
            };
            match db.txns.get(&tx_id) {
                Some(t) if t.conn == conn.id => {}
                _ => return Err("ENOENT"),
            }
            let txn = db.txns.remove(&tx_id).ok_or("ENOENT")?;
            if !commit {
                return Ok((ok(), Vec::new()));
            }
            let changes = commit_txn(db, txn)?;
            Ok((ok(), changes))
        }
        XS_WATCH | XS_UNWATCH => {
            let a = args(payload)?;
            let [path, token] = a.as_slice() else {
                return Err("EINVAL");
            };
            let (abs, relative_to) = if path.starts_with('@') {
                (path.to_string(), None)
            } else {
                let abs = resolve(path, conn.dom)?;
                (
                    abs,
                    (!path.starts_with('/')).then(|| format!("{}/", home(conn.dom))),
                )
            };
            let pos = db
                .watches
                .iter()
                .position(|w| w.conn == conn.id && w.path == abs && w.token == *token);
            if kind == XS_UNWATCH {
                db.watches.remove(pos.ok_or("ENOENT")?);
                return Ok((ok(), Vec::new()));
            }
            if pos.is_some() {
                return Err("EEXIST");
            }
            db.watches.push(Watch {
                dom: conn.dom,
                conn: conn.id,
                path: abs,
                token: token.to_string(),
                relative_to,
            });
            // The initial fire goes to this watch only; it is sent after the reply.
            Ok((
                ok(),
                vec![Change::Initial {
                    conn: conn.id,
                    path: path.to_string(),
                    token: token.to_string(),
                }],
            ))
        }
        XS_RESET_WATCHES => {
            db.watches.retain(|w| w.conn != conn.id);
            Ok((ok(), Vec::new()))
        }
        XS_GET_DOMAIN_PATH => {
            let dom: u32 = one_arg(payload)?.parse().map_err(|_| "EINVAL")?;
            Ok((format!("{}\0", home(dom)).into_bytes(), Vec::new()))
        }
        XS_IS_DOMAIN_INTRODUCED => {
            let dom: u32 = one_arg(payload)?.parse().map_err(|_| "EINVAL")?;
            let yes = dom == 0 || db.introduced.contains(&dom);
            Ok((
                if yes {
                    b"T\0".to_vec()
                } else {
                    b"F\0".to_vec()
                },
                Vec::new(),
            ))
        }
        XS_INTRODUCE => {
            if conn.dom != 0 {
                return Err("EACCES");
            }
            let a = args(payload)?;
            let [dom, _gfn, _port] = a.as_slice() else {
                return Err("EINVAL");
            };
            let dom: u32 = dom.parse().map_err(|_| "EINVAL")?;
            if dom == 0 {
                return Err("EINVAL");
            }
            db.introduced.insert(dom);
            Ok((ok(), vec![Change::Special("@introduceDomain")]))
        }
        XS_RELEASE => {
            if conn.dom != 0 {
                return Err("EACCES");
            }
            let dom: u32 = one_arg(payload)?.parse().map_err(|_| "EINVAL")?;
            if !db.introduced.remove(&dom) {
                return Err("ENOENT");
            }
            Ok((ok(), vec![Change::Special("@releaseDomain")]))
        }
        XS_CONTROL => Err("EINVAL"),
        XS_READ | XS_DIRECTORY | XS_DIRECTORY_PART | XS_GET_PERMS | XS_WRITE | XS_MKDIR | XS_RM
        | XS_SET_PERMS => {
            if tx_id == 0 {
                node_op(&mut db.store, conn, kind, payload)
            } else {
                let txn = match db.txns.get_mut(&tx_id) {
                    Some(t) if t.conn == conn.id => t,
                    _ => return Err("ENOENT"),
                };
                let (body, changes) = node_op(&mut txn.snapshot, conn, kind, payload)?;
                txn.events.extend(changes);
                Ok((body, Vec::new()))
            }
        }
        XS_WATCH_EVENT | XS_ERROR => Err("EINVAL"),
        _ => Err("EINVAL"),
    }
}

fn node_op(store: &mut Store, conn: &Conn, kind: u32, payload: &[u8]) -> Handled {
    let dom = conn.dom;
    match kind {
        XS_WRITE => {
            let nul = payload.iter().position(|b| *b == 0).ok_or("EINVAL")?;
            let path = std::str::from_utf8(&payload[..nul]).map_err(|_| "EINVAL")?;
            let abs = resolve(path, dom)?;
            store.write(&abs, &payload[nul + 1..], dom)?;
            Ok((ok(), vec![Change::Modified(abs)]))
        }
        XS_SET_PERMS => {
            let a = args(payload)?;
            let (path, perms) = a.split_first().ok_or("EINVAL")?;
            let abs = resolve(path, dom)?;
            let perms: Option<Vec<Perm>> = perms.iter().map(|p| Perm::parse(p)).collect();
            let perms = perms.filter(|p| !p.is_empty()).ok_or("EINVAL")?;
            store.set_perms(&abs, PermSet(perms), dom)?;
            Ok((ok(), vec![Change::Modified(abs)]))
        }
        XS_DIRECTORY_PART => {
            let a = args(payload)?;
            let [path, offset] = a.as_slice() else {
                return Err("EINVAL");
            };
            let abs = resolve(path, dom)?;
            let offset: usize = offset.parse().map_err(|_| "EINVAL")?;
            let gen = store.generation(&abs, dom)?;
            let mut all = Vec::new();
            for name in store.directory(&abs, dom)? {
                all.extend_from_slice(name.as_bytes());
                all.push(0);
            }
            let mut body = format!("{gen}\0").into_bytes();
            let rest = all.get(offset..).ok_or("EINVAL")?;
            let room = PAYLOAD_MAX - body.len() - 1;
            if rest.len() <= room {
                body.extend_from_slice(rest);
                body.push(0);
            } else {
                // Whole names only.
                let cut = rest[..room]
                    .iter()
                    .rposition(|b| *b == 0)
                    .map_or(0, |p| p + 1);
                body.extend_from_slice(&rest[..cut]);
            }
            Ok((body, Vec::new()))
        }
        _ => {
            let path = one_arg(payload)?;
            let abs = resolve(path, dom)?;
            match kind {
                XS_READ => Ok((store.read(&abs, dom)?, Vec::new())),
                XS_DIRECTORY => {
                    let mut body = Vec::new();
                    for name in store.directory(&abs, dom)? {
                        body.extend_from_slice(name.as_bytes());
                        body.push(0);
                    }
                    if body.len() > PAYLOAD_MAX {
                        return Err("E2BIG");
                    }
                    Ok((body, Vec::new()))
                }
                XS_GET_PERMS => {
                    let perms = store.get_perms(&abs, dom)?;
                    let mut body = Vec::new();
                    for p in &perms.0 {
                        body.extend_from_slice(p.to_string().as_bytes());
                        body.push(0);
                    }
                    Ok((body, Vec::new()))
                }
                XS_MKDIR => {
                    store.mkdir(&abs, dom)?;
                    Ok((ok(), vec![Change::Modified(abs)]))
                }
                XS_RM => {
                    if abs == "/" {
                        return Err("EINVAL");
                    }
                    store.rm(&abs, dom)?;
                    Ok((ok(), vec![Change::Removed(abs)]))
                }
                _ => Err("EINVAL"),
            }
        }
    }
}

/// Applies a transaction if none of the nodes it touched changed since it started.
fn commit_txn(db: &mut Db, txn: Txn) -> XsResult<Vec<Change>> {
    let touched = txn.snapshot.touched.clone().unwrap_or_default();
    for (path, gen_then) in &touched {
        if db.store.nodes.get(path).map(|n| n.gen) != *gen_then {
            return Err("EAGAIN");
        }
    }
    for (path, gen_then) in touched {
        let now = txn.snapshot.nodes.get(&path);
        if now.map(|n| n.gen) == gen_then {
            continue; // only read
        }
        match now {
            Some(node) => {
                let mut node = node.clone();
                node.gen = db.store.fresh_gen();
                db.store.nodes.insert(path, node);
            }
            None => {
                db.store.nodes.remove(&path);
            }
        }
    }
    // The caller fires these after applying, so watchers see the committed values.
    Ok(txn.events)
}

fn event_path(w: &Watch, path: &str) -> String {
    match &w.relative_to {
        Some(prefix) => path
            .strip_prefix(prefix.as_str())
            .unwrap_or(path)
            .to_string(),
        None => path.to_string(),
    }
}

/// Queues the watch events a change causes.
fn fire(db: &Db, change: &Change) {
    let under = |p: &str, dir: &str| {
        dir == "/" || p == dir || (p.starts_with(dir) && p.as_bytes().get(dir.len()) == Some(&b'/'))
    };
    if let Change::Initial { conn, path, token } = change {
        if let Some(writer) = db.writers.get(conn) {
            let body = format!("{path}\0{token}\0");
            let _ = writer.send(frame(XS_WATCH_EVENT, 0, 0, body.as_bytes()));
        }
        return;
    }
    for w in &db.watches {
        let fired = match change {
            Change::Initial { .. } => None,
            Change::Special(name) => (w.path == *name).then(|| name.to_string()),
            Change::Modified(p) => {
                let readable = db
                    .store
                    .nodes
                    .get(p)
                    .is_none_or(|n| n.perms.can_read(w.dom));
                (readable && !w.path.starts_with('@') && under(p, &w.path))
                    .then(|| event_path(w, p))
            }
            Change::Removed(p) => {
                if w.path.starts_with('@') {
                    None
                } else if under(p, &w.path) {
                    Some(event_path(w, p))
                } else if under(&w.path, p) {
                    Some(event_path(w, &w.path))
                } else {
                    None
                }
            }
        };
        if let (Some(path), Some(writer)) = (fired, db.writers.get(&w.conn)) {
            let body = format!("{path}\0{}\0", w.token);
            let _ = writer.send(frame(XS_WATCH_EVENT, 0, 0, body.as_bytes()));
        }
    }
}
