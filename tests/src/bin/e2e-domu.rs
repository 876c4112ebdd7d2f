//! Guest-side checks, run as the test domU's init payload: talk to xenstore over
//! `/dev/xen/xenbus` as an unprivileged guest. Results go to this domain's console,
//! which dom0 reads from xenconsoled's log and forwards to the host.

use anyhow::ensure;
use anyhow::{bail, Context, Result};
use qxk_tests::inside::tool;
use qxk_tests::report::Reporter;
use qxk_tests::vm;
use std::ffi::{c_char, c_uint, CStr, CString};
use std::time::{Duration, Instant};
use xen_toolstack::XenStore;
use xenstore_client::{Client, Ops, XsErrno};

fn text(v: Option<Vec<u8>>, path: &str) -> Result<String> {
    let v = v.with_context(|| format!("{path} does not exist"))?;
    String::from_utf8(v).with_context(|| format!("{path} is not UTF-8"))
}

/// libxenstore's watch calls, which the safe layer of xen-sys does not wrap.
struct Watch<'a> {
    xs: &'a XenStore,
}

impl<'a> Watch<'a> {
    fn new(xs: &'a XenStore, path: &str, token: &str) -> Result<Watch<'a>> {
        let p = CString::new(path)?;
        let t = CString::new(token)?;
        // SAFETY: valid handle and C strings.
        if !unsafe { xen_sys::xs_watch(xs.as_ptr(), p.as_ptr(), t.as_ptr()) } {
            bail!("xs_watch {path}: {}", std::io::Error::last_os_error());
        }
        Ok(Watch { xs })
    }

    /// The next event's path, or None after `timeout`.
    fn next(&self, timeout: Duration) -> Result<Option<String>> {
        // SAFETY: the handle's file descriptor, polled read-only.
        let fd = unsafe { xen_sys::xs_fileno(self.xs.as_ptr()) };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        if n < 0 {
            bail!("poll: {}", std::io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(None);
        }
        let mut num: c_uint = 0;
        // SAFETY: returns one malloc'ed block: num pointers, then their strings.
        let v = unsafe { xen_sys::xs_read_watch(self.xs.as_ptr(), &mut num) };
        if v.is_null() {
            bail!("xs_read_watch: {}", std::io::Error::last_os_error());
        }
        // SAFETY: entry XS_WATCH_PATH (0) is a NUL-terminated string inside the block.
        let path = unsafe { CStr::from_ptr(*v as *const c_char) }
            .to_string_lossy()
            .into_owned();
        unsafe { libc::free(v.cast()) };
        Ok(Some(path))
    }
}

/// Writes `ready-<tag>` = a fresh nonce; dom0 answers `ping-<tag>` = the returned value.
fn handshake(
    home: &str,
    tag: &str,
    write: impl Fn(&str, &[u8]) -> Result<()>,
) -> Result<(String, String)> {
    // A fresh value dom0 must echo: proves the event is from this run's write.
    let nonce = std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_string();
    write(&format!("{home}/ready-{tag}"), nonce.as_bytes())?;
    let want = format!("ack-{nonce}");
    Ok((nonce, want))
}

/// The same guest-side checks through xenstore-client over /dev/xen/xenbus, and `xs`.
fn client_checks(rep: &mut Reporter, domid: u32, home: &str) {
    let client = match Client::open() {
        Ok(c) => c,
        Err(e) => {
            rep.run("domu/client-identity", || {
                bail!("xenstore-client cannot connect: {e}")
            });
            return;
        }
    };
    rep.run("domu/client-identity", || {
        let id = String::from_utf8(client.read("domid")?)?;
        let name = String::from_utf8(client.read("name")?)?;
        ensure!(
            id == domid.to_string(),
            "xenstore-client reads domid {id:?}, libxenstore {domid}"
        );
        ensure!(name == vm::DOMU_NAME, "xenstore-client reads name {name:?}");
        let path = client.get_domain_path(domid)?;
        ensure!(
            path == format!("/local/domain/{domid}"),
            "get_domain_path({domid}) = {path:?}"
        );
        Ok(format!(
            "domid {id}, name {name}, home {path}, over /dev/xen/xenbus"
        ))
    });
    rep.run("domu/client-home-write", || {
        let path = format!("{home}/client");
        client.write(&path, b"via xenstore-client")?;
        let back = client.read(&path)?;
        ensure!(
            back == b"via xenstore-client",
            "read back {:?}",
            String::from_utf8_lossy(&back)
        );
        // A guest may not write outside its home: the daemon must refuse.
        match client.write("/qxk/from-guest", b"x") {
            Err(e) if e.errno() == Some(XsErrno::EACCES) => {}
            other => bail!("writing /qxk/from-guest as a guest gave {other:?}, expected EACCES"),
        }
        client.transact(|tx| tx.write(&format!("{home}/tx"), b"committed"))?;
        ensure!(
            client.read(&format!("{home}/tx"))? == b"committed",
            "transaction write lost"
        );
        Ok(format!(
            "{path} written; outside the home refused with EACCES; a transaction committed"
        ))
    });
    rep.run("domu/client-watch", || {
        let ping = format!("{home}/ping-client");
        client.watch(&ping, "qxk-client")?;
        let (nonce, want) = handshake(home, "client", |p, v| Ok(client.write(p, v)?))?;
        let start = Instant::now();
        let mut events = 0;
        while start.elapsed() < Duration::from_secs(120) {
            let Some(ev) = client.read_watch(Some(Duration::from_secs(5)))? else {
                continue;
            };
            events += 1;
            ensure!(
                ev.path == ping && ev.token == "qxk-client",
                "unexpected event {ev:?}"
            );
            if client.try_read(&ping)?.as_deref() == Some(want.as_bytes()) {
                return Ok(format!(
                    "event {events} on {ping} carried dom0's answer to {nonce}"
                ));
            }
        }
        bail!("no event with {want:?} on {ping} within 120 s ({events} events)")
    });
    rep.run("domu/xs-cli", || {
        let name = tool::run("xs", &["read", "name"], tool::T)?;
        ensure!(
            name == format!("{}\n", vm::DOMU_NAME),
            "xs read name: {name:?}"
        );
        tool::run("xs", &["write", &format!("{home}/xs"), "via xs"], tool::T)?;
        ensure!(
            client.read(&format!("{home}/xs"))? == b"via xs",
            "xs write did not land"
        );
        Ok("xs read and write over /dev/xen/xenbus".into())
    });
    // Listing pipelines its reads (several requests per write to the device).
    rep.run("domu/xs-ls", || {
        let ls = match tool::run("xs", &["ls", home], tool::T) {
            Ok(ls) => ls,
            Err(e) => {
                // Diagnose, then fail: single requests, then pipelined ones (what
                // `xs ls` sends), each on a fresh connection with a deadline.
                let single = client.directory(home).map(|d| format!("lists {} names", d.len()));
                let paths: Vec<String> = ["hello", "xs"].iter().map(|n| format!("{home}/{n}")).collect();
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let r = Client::open().map(|c| c.read_many(&paths).into_iter().filter(|r| r.is_ok()).count());
                    let _ = tx.send(r.map_err(|e| e.to_string()));
                });
                let pipelined = match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(r) => format!("{r:?} of 2 replies"),
                    Err(_) => "no reply within 10 s".to_string(),
                };
                bail!("{e:#}; diagnosis over /dev/xen/xenbus: a single directory request {single:?}; Ops::read_many of 2 paths (pipelined): {pipelined}");
            }
        };
        ensure!(ls.contains("xs = \"via xs\""), "xs ls {home}:\n{ls}");
        Ok(format!("xs ls {home} over /dev/xen/xenbus shows the value xs wrote"))
    });
}

fn main() {
    let mut rep = Reporter::new();
    let xs = match XenStore::open() {
        Ok(xs) => xs,
        Err(e) => {
            rep.run("domu/identity", || {
                bail!("cannot open xenstore over /dev/xen/xenbus: {e}")
            });
            std::process::exit(1);
        }
    };
    let mut domid = None;
    rep.run_with_data("domu/identity", || {
        // Relative paths resolve to this domain's home: what a guest knows of itself.
        let id = text(xs.read("domid")?, "domid")?;
        let name = text(xs.read("name")?, "name")?;
        let n: u32 = id
            .trim()
            .parse()
            .with_context(|| format!("domid {id:?} is not a number"))?;
        if n == 0 {
            bail!("domid reads 0: this is not a guest");
        }
        if name != vm::DOMU_NAME {
            bail!("name reads {name:?}, xl created {:?}", vm::DOMU_NAME);
        }
        domid = Some(n);
        Ok((
            format!("domid {n}, name {name}"),
            serde_json::json!({"domid": n, "name": name}),
        ))
    });
    let Some(domid) = domid else {
        std::process::exit(1)
    };
    let home = format!("/local/domain/{domid}/{}", vm::DOMU_DATA);
    rep.run_with_data("domu/home-write", || {
        let path = format!("{home}/hello");
        let value = format!("written by domU {domid}");
        xs.write(&path, value.as_bytes())?;
        let back = text(xs.read(&path)?, &path)?;
        if back != value {
            bail!("{path}: wrote {value:?}, read back {back:?}");
        }
        Ok((
            format!("{path} = {value:?}"),
            serde_json::json!({"path": path, "value": value}),
        ))
    });
    rep.run("domu/watch", || {
        let ping = format!("{home}/ping-libxenstore");
        let watch = Watch::new(&xs, &ping, "qxk")?;
        let (nonce, want) = handshake(&home, "libxenstore", |p, v| Ok(xs.write(p, v)?))?;
        let start = Instant::now();
        let mut events = 0;
        while start.elapsed() < Duration::from_secs(120) {
            let Some(path) = watch.next(Duration::from_secs(5))? else {
                continue;
            };
            events += 1;
            if path != ping {
                bail!("watch on {ping} fired for {path}");
            }
            // The first event fires on registration; later ones follow dom0's write.
            if xs.read(&ping)?.as_deref() == Some(want.as_bytes()) {
                return Ok(format!(
                    "event {events} on {ping} carried dom0's answer to {nonce} after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
        }
        bail!("no event with {want:?} on {ping} within 120 s ({events} events)")
    });
    client_checks(&mut rep, domid, &home);
    std::process::exit(if rep.failures() == 0 { 0 } else { 1 });
}
