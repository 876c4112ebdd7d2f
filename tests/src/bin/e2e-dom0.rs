//! dom0-side checks, run by the e2e dom0's init once xenstored, xen-init-dom0 and
//! xenconsoled are up: xen-sys against the live hypervisor, the C tools on the same
//! xenstore tree, a PV domU's guest-side checks (relayed from its console), then
//! the same xenstore checks again after replacing C xenstored with oxenstored.

use anyhow::{bail, ensure, Context, Result};
use qxk_tests::report::{CheckResult, Reporter};
use qxk_tests::vm;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};
use xen_toolstack::{XenCtrl, XenLight, XenStore};

use qxk_tests::inside::load::{self, Load};
use qxk_tests::inside::tool::{self, T};
use qxk_tests::inside::vchan;
use xen_toolstack::vchan::Vchan;
use xenstore_client::{Client, Ops};

fn read_text(xs: &XenStore, path: &str) -> Result<Option<String>> {
    Ok(match xs.read(path)? {
        Some(v) => Some(String::from_utf8(v).with_context(|| format!("{path} is not UTF-8"))?),
        None => None,
    })
}

fn sysfs(path: &str) -> Result<String> {
    Ok(std::fs::read_to_string(path)
        .with_context(|| path.to_string())?
        .trim()
        .to_string())
}

fn nonce() -> Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_string())
}

fn xen_sys_checks(rep: &mut Reporter) {
    rep.run("xen-sys/version", || {
        let xc = XenCtrl::open()?;
        let (major, minor, extra) = xc.version()?;
        let sys = (
            sysfs("/sys/hypervisor/version/major")?,
            sysfs("/sys/hypervisor/version/minor")?,
            sysfs("/sys/hypervisor/version/extra")?,
        );
        ensure!(
            (major, minor) == (4, 17),
            "xc_version says Xen {major}.{minor}{extra}, expected 4.17"
        );
        ensure!(
            (major.to_string(), minor.to_string(), extra.clone()) == sys,
            "xc_version says {major}.{minor}{extra}, /sys/hypervisor says {sys:?}"
        );
        Ok(format!(
            "Xen {major}.{minor}{extra}, as /sys/hypervisor says"
        ))
    });
    rep.run("xen-sys/physinfo", || {
        let p = XenCtrl::open()?.physinfo()?;
        let total_mib = p.total_pages * 4 / 1024;
        ensure!(
            p.nr_cpus == vm::VM_CPUS,
            "nr_cpus {} but QEMU has -smp {}",
            p.nr_cpus,
            vm::VM_CPUS
        );
        ensure!(
            total_mib <= vm::VM_MEM_MIB && total_mib + 256 >= vm::VM_MEM_MIB,
            "total {total_mib} MiB, QEMU has {} MiB",
            vm::VM_MEM_MIB
        );
        ensure!(
            p.free_pages < p.total_pages,
            "free {} >= total {}",
            p.free_pages,
            p.total_pages
        );
        ensure!(p.cpu_khz > 0, "cpu_khz is 0");
        Ok(format!(
            "{} cpus, {} nodes, {total_mib} MiB, {} MiB free, {} kHz",
            p.nr_cpus,
            p.nr_nodes,
            p.free_pages * 4 / 1024,
            p.cpu_khz
        ))
    });
    rep.run("xen-sys/domains-xenctrl", || {
        let ds = XenCtrl::open()?.domains()?;
        let d0 = ds
            .iter()
            .find(|d| d.domid == 0)
            .context("no domain 0 in xc_domain_getinfolist")?;
        let mib = d0.tot_pages * 4 / 1024;
        ensure!(
            mib <= vm::DOM0_MEM_MIB && mib + 16 >= vm::DOM0_MEM_MIB,
            "dom0 has {mib} MiB, booted with dom0_mem={} MiB",
            vm::DOM0_MEM_MIB
        );
        ensure!(
            d0.max_vcpu_id + 1 == vm::VM_CPUS,
            "dom0 has {} vcpus",
            d0.max_vcpu_id + 1
        );
        Ok(format!(
            "{} domain(s); dom0 {mib} MiB, {} vcpus",
            ds.len(),
            d0.max_vcpu_id + 1
        ))
    });
    rep.run("xen-sys/domains-xenlight", || {
        let xl = XenLight::open()?;
        let ds = xl.list_domains()?;
        let ctrl = XenCtrl::open()?.domains()?;
        let a: BTreeSet<u32> = ds.iter().map(|d| d.domid).collect();
        let b: BTreeSet<u32> = ctrl.iter().map(|d| d.domid).collect();
        ensure!(a == b, "libxl lists domains {a:?}, libxenctrl {b:?}");
        let d0 = ds
            .iter()
            .find(|d| d.domid == 0)
            .context("libxl lists no domain 0")?;
        let ctrl_kib = ctrl
            .iter()
            .find(|d| d.domid == 0)
            .map_or(0, |d| d.tot_pages * 4);
        ensure!(
            d0.current_memkb == ctrl_kib,
            "libxl: dom0 {} KiB, libxenctrl {ctrl_kib} KiB",
            d0.current_memkb
        );
        // And the C toolstack's own view: `xl list` prints MiB.
        let list = tool::run("xl", &["list"], T)?;
        let line = list
            .lines()
            .find(|l| l.starts_with("Domain-0 "))
            .context("xl list has no Domain-0 line")?;
        let mem: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|m| m.parse().ok())
            .context("xl list: no memory column")?;
        ensure!(
            mem == d0.current_memkb / 1024,
            "xl list: dom0 {mem} MiB, libxl {} KiB",
            d0.current_memkb
        );
        Ok(format!(
            "domains {a:?}; dom0 {} KiB in libxl, libxenctrl and xl list",
            d0.current_memkb
        ))
    });
}

/// libxenstore through xen-sys, and the C xenstore-* clients, on one tree.
fn xenstore_checks(rep: &mut Reporter, daemon: &str) {
    rep.run(&format!("{daemon}/libxenstore-rw"), || {
        let xs = XenStore::open()?;
        let base = format!("/qxk/{daemon}/xen-sys");
        let ours = nonce()?;
        xs.write(&format!("{base}/ours"), ours.as_bytes())?;
        ensure!(
            read_text(&xs, &format!("{base}/ours"))?.as_deref() == Some(ours.as_str()),
            "read-back differs"
        );
        // What C xenstore-read sees of our write, and what we see of xenstore-write's.
        let c_read = tool::run("xenstore-read", &[&format!("{base}/ours")], T)?;
        ensure!(
            c_read.trim_end() == ours,
            "xenstore-read gave {c_read:?}, wrote {ours:?}"
        );
        let theirs = nonce()?;
        tool::run("xenstore-write", &[&format!("{base}/theirs"), &theirs], T)?;
        let seen = read_text(&xs, &format!("{base}/theirs"))?;
        ensure!(
            seen.as_deref() == Some(theirs.as_str()),
            "xenstore-write stored {theirs:?}, xs_read gives {seen:?}"
        );
        let mut dir = xs.directory(&base)?;
        dir.sort();
        let mut c_list: Vec<String> = tool::run("xenstore-list", &[&base], T)?
            .lines()
            .map(str::to_string)
            .collect();
        c_list.sort();
        ensure!(
            dir == ["ours", "theirs"] && dir == c_list,
            "xs_directory {dir:?}, xenstore-list {c_list:?}"
        );
        ensure!(
            xs.read(&format!("{base}/absent"))?.is_none(),
            "a missing key reads as present"
        );
        let domid0 = read_text(&xs, "/local/domain/0/name")?;
        ensure!(
            domid0.as_deref() == Some("Domain-0"),
            "/local/domain/0/name is {domid0:?}"
        );
        Ok(format!(
            "{daemon}: xs_read/xs_write/xs_directory agree with xenstore-read/-write/-list"
        ))
    });
    client_checks(rep, daemon);
}

/// Values that exercise escaping in listings: spaces, quotes, a tab, a backslash.
const TREE: &[(&str, &str)] = &[
    ("a", "1"),
    ("b/c", "hello world"),
    ("b/d", "quote \" and back\\slash"),
    ("b/e/f", "tab\there"),
    ("g", ""),
];

/// xenstore-client (library and `xs`) against the running daemon, and agreement
/// with the C clients on one tree.
fn client_checks(rep: &mut Reporter, daemon: &str) {
    rep.run(&format!("{daemon}/client-rw"), || {
        let c = Client::open()?;
        let base = format!("/qxk/{daemon}/client");
        let _ = c.rm(&base);
        // Any bytes are a value: NUL and 0xff included.
        let bin: &[u8] = b"\x00\xff\x01binary\n";
        c.write(&format!("{base}/bin"), bin)?;
        ensure!(c.read(&format!("{base}/bin"))? == bin, "binary value changed on the way");
        let ours = nonce()?;
        c.write(&format!("{base}/ours"), ours.as_bytes())?;
        let c_read = tool::run("xenstore-read", &[&format!("{base}/ours")], T)?;
        ensure!(c_read.trim_end() == ours, "xenstore-read gave {c_read:?}, we wrote {ours:?}");
        let theirs = nonce()?;
        tool::run("xenstore-write", &[&format!("{base}/theirs"), &theirs], T)?;
        ensure!(c.read(&format!("{base}/theirs"))? == theirs.as_bytes(), "xenstore-write's value reads differently");
        let mut ours_dir = c.directory(&base)?;
        ours_dir.sort();
        let mut c_dir: Vec<String> = tool::run("xenstore-list", &[&base], T)?.lines().map(str::to_string).collect();
        c_dir.sort();
        ensure!(ours_dir == c_dir && ours_dir == ["bin", "ours", "theirs"], "directory {ours_dir:?}, xenstore-list {c_dir:?}");
        c.mkdir(&format!("{base}/empty"))?;
        ensure!(c.read(&format!("{base}/empty"))?.is_empty(), "mkdir made a node with a value");
        c.rm(&format!("{base}/ours"))?;
        ensure!(c.try_read(&format!("{base}/ours"))?.is_none(), "rm left the node");
        let (exists, _, _) = tool::run_status("xenstore-exists", &[&format!("{base}/ours")], T)?;
        ensure!(!exists, "xenstore-exists still finds a node we removed");
        let perms = c.get_perms(&format!("{base}/theirs"))?;
        let c_perms = tool::run("xenstore-ls", &["-p", &base], T)?;
        let line = c_perms.lines().find(|l| l.trim_start().starts_with("theirs ")).context("xenstore-ls -p lists no theirs")?;
        let shown: Vec<String> = perms.iter().map(|p| p.to_string()).collect();
        ensure!(line.contains(&format!("({})", shown.join(","))), "permissions {shown:?}, xenstore-ls -p: {line:?}");
        let path = c.get_domain_path(0)?;
        ensure!(path == "/local/domain/0", "get_domain_path(0) = {path:?}");
        c.rm(&base)?;
        Ok(format!("{daemon}: read/write/directory/mkdir/rm/get_perms/get_domain_path agree with the C clients"))
    });
    rep.run(&format!("{daemon}/xs-cli"), || {
        let base = format!("/qxk/{daemon}/tree");
        let c = Client::open()?;
        let _ = c.rm(&base);
        // Written as exact bytes through the library; both listings escape them for display.
        for (k, v) in TREE {
            c.write(&format!("{base}/{k}"), v.as_bytes())?;
        }
        tool::run("xenstore-write", &[&format!("{base}/by-c"), "from C"], T)?;
        let by_c = tool::run("xs", &["read", &format!("{base}/by-c")], T)?;
        ensure!(by_c == "from C\n", "xs read of xenstore-write's value: {by_c:?}");
        let ours = tool::run("xs", &["ls", "-r", &base], T)?;
        let theirs = tool::run("xenstore-ls", &[&base], T)?;
        ensure!(ours == theirs, "xs ls -r:\n{ours}\nxenstore-ls:\n{theirs}");
        for (k, _) in TREE {
            let p = format!("{base}/{k}");
            let (a, b) = (tool::run("xs", &["read", &p], T)?, tool::run("xenstore-read", &[&p], T)?);
            ensure!(a == b, "{p}: xs read {a:?}, xenstore-read {b:?}");
        }
        let json: serde_json::Value = serde_json::from_str(&tool::run("xs", &["--json", "ls", "-r", &base], T)?)?;
        for (k, v) in TREE {
            let p = format!("{base}/{k}");
            let entry = json.as_array().and_then(|a| a.iter().find(|e| e["path"] == p.as_str())).with_context(|| format!("xs --json ls has no {p}"))?;
            ensure!(entry["value"] == *v, "xs --json ls: {p} = {}, wrote {v:?}", entry["value"]);
        }
        tool::run("xs", &["write", &format!("{base}/by-xs"), "from xs"], T)?;
        let seen = tool::run("xenstore-read", &[&format!("{base}/by-xs")], T)?;
        ensure!(seen == "from xs\n", "xenstore-read of the value xs wrote: {seen:?}");
        let (missing, _, _) = tool::run_status("xs", &["read", &format!("{base}/absent")], T)?;
        ensure!(!missing, "xs read of a missing node succeeded");
        tool::run("xs", &["rm", &base], T)?;
        let (gone, _, _) = tool::run_status("xenstore-exists", &[&base], T)?;
        ensure!(!gone, "xs rm left {base}");
        Ok(format!("{daemon}: xs ls -r output equals xenstore-ls; read/write/rm agree; --json values match"))
    });
    rep.run(&format!("{daemon}/load"), || {
        let shape = Load { threads: 4, increments_per_thread: LOAD_INCREMENTS };
        let r = load::run(&format!("/qxk/{daemon}/load"), shape)?;
        ensure!(r.operations >= 10_000, "only {} operations", r.operations);
        Ok(format!(
            "{daemon}: {} requests from {} clients in {:.1} s, {} transaction conflicts retried, {} watch events all seen, counter exact",
            r.operations,
            shape.threads + 2,
            r.elapsed.as_secs_f64(),
            r.conflicts,
            r.events
        ))
    });
}

/// Per-thread increments in the load test: 4 threads x 480 x (4 or 6 requests per
/// transaction + 1 watched write) is over 10k requests before retries.
const LOAD_INCREMENTS: usize = 480;

fn running(pid_file: &str, comm: &str) -> Result<u32> {
    let pid: u32 = sysfs(pid_file)?
        .parse()
        .with_context(|| format!("{pid_file} holds no pid"))?;
    let c = sysfs(&format!("/proc/{pid}/comm"))
        .with_context(|| format!("pid {pid} from {pid_file} is not running"))?;
    ensure!(
        c == comm,
        "pid {pid} from {pid_file} is {c:?}, expected {comm:?}"
    );
    Ok(pid)
}

/// dom0's own kernel xenbus device, the path guests use (checked while the
/// daemon dom0's kernel connected to at boot is still the one running).
fn xenbus_in_dom0_check(rep: &mut Reporter) {
    rep.run("xenstored/client-xenbus", || {
        let c = Client::open_path(Path::new("/dev/xen/xenbus"))?;
        let name = c.read("/local/domain/0/name")?;
        ensure!(
            name == b"Domain-0",
            "/local/domain/0/name over xenbus: {:?}",
            String::from_utf8_lossy(&name)
        );
        let v = nonce()?;
        c.write("/qxk/xenbus/probe", v.as_bytes())?;
        let seen = tool::run("xenstore-read", &["/qxk/xenbus/probe"], T)?;
        ensure!(
            seen.trim_end() == v,
            "xenstore-read over the socket: {seen:?}, wrote {v:?} over xenbus"
        );
        Ok("read and write over /dev/xen/xenbus, seen over the socket".into())
    });
}

fn control_plane_check(rep: &mut Reporter) {
    rep.run("dom0/control-plane", || {
        let xs = running("/var/run/xenstored.pid", vm::XENSTORED_C)?;
        let xc = running("/var/run/xenconsoled.pid", "xenconsoled")?;
        for dev in ["privcmd", "xenbus", "evtchn", "gntdev"] {
            ensure!(
                Path::new("/dev/xen").join(dev).exists(),
                "/dev/xen/{dev} is missing"
            );
        }
        Ok(format!(
            "xenstored pid {xs}, xenconsoled pid {xc}, /dev/xen complete"
        ))
    });
}

fn stop(pid_file: &str, comm: &str) -> Result<()> {
    let pid = running(pid_file, comm)?;
    // SAFETY: plain kill(2) on a pid we just verified.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        ensure!(start.elapsed() < T, "{comm} (pid {pid}) ignores SIGTERM");
        // Daemons belong to init, which is busy running us and cannot reap them: a zombie has stopped.
        std::thread::sleep(Duration::from_millis(50));
        if sysfs(&format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")) {
            break;
        }
    }
    Ok(())
}

/// Replaces C xenstored with OCaml oxenstored in the running system, as a
/// distribution switching daemons would: stop the clients and the daemon, start
/// the other one, re-run dom0's xenstore setup, restart xenconsoled.
fn switch_to_oxenstored(rep: &mut Reporter) -> bool {
    rep.run("oxenstored/switch", || {
        stop("/var/run/xenconsoled.pid", "xenconsoled")?;
        stop("/var/run/xenstored.pid", vm::XENSTORED_C)?;
        let _ = std::fs::remove_file("/var/run/xenstored.pid");
        tool::run(
            vm::XENSTORED_OCAML,
            &["--pid-file", "/var/run/xenstored.pid"],
            T,
        )?;
        let start = Instant::now();
        let pid = loop {
            match running("/var/run/xenstored.pid", vm::XENSTORED_OCAML) {
                Ok(pid) => break pid,
                Err(e) if start.elapsed() > T => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        tool::run("xen-init-dom0", &[], T)?;
        tool::run(
            "xenconsoled",
            &[
                "--pid-file=/var/run/xenconsoled.pid",
                "--log=guest",
                "--log-dir=/var/log/xen",
            ],
            T,
        )?;
        let name = tool::run("xenstore-read", &["/local/domain/0/name"], T)?;
        ensure!(
            name.trim() == "Domain-0",
            "after the switch /local/domain/0/name is {name:?}"
        );
        Ok(format!("oxenstored pid {pid} serves the tree"))
    })
}

/// The domU's console as xenconsoled logs it.
fn domu_console() -> String {
    std::fs::read_to_string(format!(
        "{}/guest-{}.log",
        vm::CONSOLE_LOG_DIR,
        vm::DOMU_NAME
    ))
    .unwrap_or_default()
}

fn domu_checks(rep: &mut Reporter) {
    let mut domid = None;
    let created = rep.run("domu/create", || {
        let cfg = format!(
            "name = \"{name}\"\ntype = \"pv\"\nkernel = \"{k}\"\nramdisk = \"{r}\"\nextra = \"console=hvc0 rdinit=/init loglevel=4\"\nmemory = {m}\nvcpus = 1\non_poweroff = \"destroy\"\non_crash = \"destroy\"\n",
            name = vm::DOMU_NAME,
            k = vm::DOMU_KERNEL,
            r = vm::DOMU_INITRD,
            m = vm::DOMU_MEM_MIB
        );
        std::fs::write("/tmp/qxk-domu.cfg", cfg)?;
        tool::run("xl", &["create", "/tmp/qxk-domu.cfg"], Duration::from_secs(120))?;
        let id: u32 = tool::run("xl", &["domid", vm::DOMU_NAME], T)?.trim().parse().context("xl domid")?;
        let d = XenCtrl::open()?.domains()?.into_iter().find(|d| d.domid == id).context("libxenctrl does not list the new domain")?;
        let mib = d.tot_pages * 4 / 1024;
        ensure!(mib <= vm::DOMU_MEM_MIB && mib + 8 >= vm::DOMU_MEM_MIB, "domU has {mib} MiB, configured {}", vm::DOMU_MEM_MIB);
        let libxl = XenLight::open()?.list_domains()?;
        ensure!(libxl.iter().any(|d| d.domid == id), "libxl does not list domain {id}");
        domid = Some(id);
        Ok(format!("domain {id}, {mib} MiB, listed by libxenctrl and libxl"))
    });
    let Some(domid) = domid.filter(|_| created) else {
        return;
    };
    // Answer the guest's watch: wait for its nonce, echo it.
    let home = format!("/local/domain/{domid}/{}", vm::DOMU_DATA);
    let answered = (|| -> Result<()> {
        let xs = XenStore::open()?;
        let start = Instant::now();
        for tag in vm::DOMU_WATCH_TAGS {
            loop {
                if let Some(n) = read_text(&xs, &format!("{home}/ready-{tag}"))? {
                    xs.write(&format!("{home}/ping-{tag}"), format!("ack-{n}").as_bytes())?;
                    break;
                }
                ensure!(
                    start.elapsed() < Duration::from_secs(180),
                    "the domU never wrote {home}/ready-{tag}"
                );
                if domu_console().contains("QXK-DOMU-DONE") {
                    bail!("the domU finished without writing {home}/ready-{tag}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    })();
    let start = Instant::now();
    while !domu_console().contains("QXK-DOMU-DONE") && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let console = domu_console();
    let mut guest: Vec<CheckResult> = Vec::new();
    for line in console.lines() {
        match CheckResult::parse_line(line) {
            Some(Ok(r)) => guest.push(r),
            Some(Err(e)) => rep.emit(CheckResult {
                check: "domu/console".into(),
                ok: false,
                detail: format!("garbled result line {line:?}: {e}"),
                ms: 0,
                data: serde_json::Value::Null,
            }),
            None => {}
        }
    }
    for r in &guest {
        rep.emit(r.clone());
    }
    rep.run("domu/dom0-view", || {
        if let Err(e) = &answered {
            bail!("dom0 could not answer the guest's watch: {e:#}");
        }
        ensure!(
            console.contains("QXK-DOMU-DONE"),
            "the domU did not finish within 120 s; its console:\n{}",
            tail(&console)
        );
        let ident = guest
            .iter()
            .find(|r| r.check == "domu/identity")
            .context("no domu/identity result")?;
        ensure!(
            ident.data["domid"] == domid,
            "the guest read domid {}, xl says {domid}",
            ident.data["domid"]
        );
        let wrote = guest
            .iter()
            .find(|r| r.check == "domu/home-write")
            .context("no domu/home-write result")?;
        let path = wrote.data["path"]
            .as_str()
            .context("home-write gave no path")?;
        let xs = XenStore::open()?;
        let seen = read_text(&xs, path)?;
        ensure!(
            seen.as_deref() == wrote.data["value"].as_str(),
            "dom0 reads {path} = {seen:?}, the guest wrote {}",
            wrote.data["value"]
        );
        Ok(format!(
            "guest's domid {domid} matches xl; its write to {path} is visible in dom0"
        ))
    });
    rep.run("domu/destroy", || {
        tool::run("xl", &["destroy", vm::DOMU_NAME], T)?;
        // Xen tears a domain down after `xl destroy` returns: it stays listed,
        // flagged dying, until dom0's tools (xenconsoled, the backends) unmap
        // its pages. So: dying at once, gone within a deadline.
        let xc = XenCtrl::open()?;
        let started = Instant::now();
        let mut seen_dying = false;
        loop {
            let left = xc.domains()?.into_iter().find(|d| d.domid == domid);
            match left {
                None => break,
                Some(d) => {
                    let dying = d.flags & xen_sys::XEN_DOMINF_dying != 0;
                    ensure!(
                        dying,
                        "domain {domid} still listed and not dying after xl destroy (flags {:#x})",
                        d.flags
                    );
                    seen_dying = true;
                    ensure!(
                        started.elapsed() < Duration::from_secs(20),
                        "domain {domid} still dying 20 s after xl destroy ({} pages left)",
                        d.tot_pages
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(format!(
            "domain {domid} gone {} ms after xl destroy returned{}",
            started.elapsed().as_millis(),
            if seen_dying {
                " (listed as dying meanwhile)"
            } else {
                ""
            }
        ))
    });
}

/// A console log of a domain, as xenconsoled writes it.
fn console_of(name: &str) -> String {
    std::fs::read_to_string(format!("{}/guest-{name}.log", vm::CONSOLE_LOG_DIR)).unwrap_or_default()
}

/// Unpacks the template's `root.img.part.NN` as `qvm-template` does (concatenated,
/// through GNU tar, holes kept); returns root.img's path, size and allocated bytes.
fn unpack_template() -> Result<(String, u64, u64)> {
    std::fs::create_dir_all(vm::IMAGE_UNPACK_DIR)?;
    let mut parts: Vec<String> = std::fs::read_dir(vm::IMAGE_PARTS_DIR)?
        .filter_map(|e| e.ok())
        .map(|e| e.path().to_string_lossy().into_owned())
        .filter(|p| p.contains("/root.img.part."))
        .collect();
    parts.sort();
    ensure!(
        !parts.is_empty(),
        "no root.img.part.NN in {}",
        vm::IMAGE_PARTS_DIR
    );
    let script = format!(
        "cat {} | {} -xSf - -C {}",
        parts.join(" "),
        vm::GNU_TAR,
        vm::IMAGE_UNPACK_DIR
    );
    tool::run("sh", &["-c", &script], Duration::from_secs(120))?;
    let img = format!("{}/root.img", vm::IMAGE_UNPACK_DIR);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&img).with_context(|| format!("{img} after unpacking"))?;
    Ok((img, meta.len(), meta.blocks() * 512))
}

/// What the image domU showed of the guest bundle (when the template carries it).
#[derive(Default)]
struct BundleSeen {
    /// The name the domain was created with.
    name: String,
    /// The template init's marker line.
    name_line: Option<String>,
    /// The vchan client's line.
    vchan_line: Option<String>,
    /// dom0's server: what it sent and what it received, or why it failed.
    server: Option<std::result::Result<(vchan::Transfer, vchan::Transfer), String>>,
}

/// dom0's end of the vchan: serves `domid` at its `vchan::PATH_IN_HOME`, sends a stream,
/// receives one and acks it. The handle comes back too: dropping it closes the vchan,
/// which must wait until the guest has read the ack.
fn serve(domid: u32) -> Result<(vchan::Transfer, vchan::Transfer, Vchan)> {
    use std::io::Write;
    let path = format!("/local/domain/{domid}/{}", vchan::PATH_IN_HOME);
    let mut v = Vchan::server(domid, &path, vchan::RING_BYTES, vchan::RING_BYTES)
        .with_context(|| format!("vchan server for domain {domid} at {path}"))?;
    let seed = u64::from_str_radix(&nonce()?.replace('-', "")[..16], 16)?;
    let sent = vchan::send(&mut v, seed)?;
    let got = vchan::receive(&mut v)?;
    v.write_all(&[vchan::ACK])
        .context("vchan write of the ack")?;
    Ok((sent, got, v))
}

/// The Qubes template the host built with the `images` crate boots as a PV domU
/// with its root.img as the disk (a loop device in dom0, served by blkback); its
/// init reads the domain's own name with `xs` and prints it. With the guest bundle
/// in the template, dom0 also serves the vchan its client connects to.
fn image_check(rep: &mut Reporter, bundle: bool) -> BundleSeen {
    let mut seen = BundleSeen::default();
    rep.run("image/template-domu-name", || {
        let (img, size, allocated) = unpack_template()?;
        ensure!(
            allocated < size / 2,
            "{img} unpacked with {allocated} of {size} bytes allocated: the holes were lost"
        );
        let release = sysfs("/proc/sys/kernel/osrelease")?;
        for m in vm::IMAGE_DOM0_MODULES {
            tool::run("insmod", &[&format!("/lib/modules/{release}/kernel/{m}")], T)?;
        }
        let start = Instant::now();
        while !Path::new("/dev/loop0").exists() {
            ensure!(start.elapsed() < T, "loop.ko made no /dev/loop0");
            std::thread::sleep(Duration::from_millis(50));
        }
        tool::run("losetup", &["/dev/loop0", &img], T)?;
        // A fresh name each run: the guest can only know it from xenstore.
        let name = format!("{}-{}", vm::IMAGE_DOMU_NAME, &nonce()?[..8]);
        let result = (|| -> Result<String> {
            let cfg = format!(
                "name = \"{name}\"\ntype = \"pv\"\nkernel = \"{k}\"\nramdisk = \"{r}\"\nextra = \"console=hvc0 rdinit=/init loglevel=4 root={root}\"\nmemory = {m}\nvcpus = 1\ndisk = ['format=raw,vdev=xvda,access=rw,backendtype=phy,script={script},target=/dev/loop0']\non_poweroff = \"destroy\"\non_crash = \"destroy\"\n",
                k = vm::DOMU_KERNEL,
                r = vm::IMAGE_LOADER,
                root = vm::IMAGE_ROOT_DEV,
                m = vm::DOMU_MEM_MIB,
                script = vm::IMAGE_HOTPLUG,
            );
            std::fs::write("/tmp/qxk-image.cfg", cfg)?;
            let created = Instant::now();
            tool::run("xl", &["create", "/tmp/qxk-image.cfg"], Duration::from_secs(120))?;
            let create_time = created.elapsed();
            let domid = tool::run("xl", &["domid", &name], T)?.trim().to_string();
            seen.name = name.clone();
            let server = if bundle {
                let id: u32 = domid.parse().with_context(|| format!("xl domid printed {domid:?}"))?;
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(serve(id).map_err(|e| format!("{e:#}")));
                });
                Some(rx)
            } else {
                None
            };
            let start = Instant::now();
            let line = loop {
                let console = console_of(&name);
                if let Some(l) = console.lines().find(|l| l.contains(vm::IMAGE_MARKER)) {
                    break l.trim_end().to_string();
                }
                if console.contains("QXK-IMAGE-LOADER-FAILED") || console.contains("Kernel panic") {
                    bail!("the image domU failed to boot; its console:\n{}", tail(&console));
                }
                ensure!(
                    start.elapsed() < Duration::from_secs(180),
                    "no {} line from the image domU within 180 s; its console:\n{}",
                    vm::IMAGE_MARKER,
                    tail(&console)
                );
                std::thread::sleep(Duration::from_millis(200));
            };
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .unwrap_or("")
            };
            ensure!(
                field("name") == name && field("rc") == "0" && field("root") == vm::IMAGE_ROOT_DEV,
                "the image's init printed {line:?}, expected name={name} rc=0 root={}",
                vm::IMAGE_ROOT_DEV
            );
            let seen_after = start.elapsed();
            seen.name_line = Some(line.clone());
            // Kept open until the guest is done (it reads dom0's ack before closing).
            let mut _open_vchan = None;
            if let Some(rx) = server {
                let start = Instant::now();
                let limit = Duration::from_secs(300);
                seen.vchan_line = loop {
                    let console = console_of(&name);
                    if let Some(l) = console.lines().find(|l| l.contains(vm::VCHAN_MARKER)) {
                        break Some(l.trim_end().to_string());
                    }
                    if start.elapsed() > limit || console.contains("Kernel panic") {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                };
                let left = limit.saturating_sub(start.elapsed()).max(Duration::from_secs(5));
                seen.server = Some(match rx.recv_timeout(left) {
                    Ok(Ok((sent, got, v))) => {
                        _open_vchan = Some(v);
                        Ok((sent, got))
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(format!("dom0's vchan server did not finish within {limit:?}")),
                });
                if Path::new(vm::BENCH_VCHAN_FILE).is_file() {
                    let line = bench_vchan(&domid, &name)
                        .unwrap_or_else(|e| format!("{} error={e:#}", vm::BENCH_MARKER));
                    // On dom0's console, for the benchmark's host side.
                    println!("{line}");
                }
            }
            // Its init powers off; on_poweroff = destroy removes the domain.
            let start = Instant::now();
            while tool::run_status("xl", &["domid", &name], T)?.0 {
                ensure!(start.elapsed() < Duration::from_secs(60), "domain {domid} did not power off");
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(format!(
                "template unpacked sparse ({} MiB, {} MiB allocated); domain {domid} booted it as xvda, mounted {} as root and read its own name {name} with xs; it powered off (xl create {:.1} s, name on the console {:.1} s later at guest uptime {} s)",
                size >> 20,
                allocated >> 20,
                vm::IMAGE_ROOT_DEV,
                create_time.as_secs_f64(),
                seen_after.as_secs_f64(),
                field("uptime")
            ))
        })();
        if result.is_err() {
            let _ = tool::run_status("xl", &["destroy", &name], T);
        }
        let _ = tool::run_status("losetup", &["-d", "/dev/loop0"], T);
        let _ = std::fs::remove_file(&img);
        result
    });
    seen
}

/// The benchmark's dom0 side (scripts/bench-vchan.sh): the same 16 MiB written, round after
/// round, by the C `vchan-node1 server write` of the built tree or by our server, both with
/// the smallest rings (node1 asks for 0 bytes); the guest times its reader of each. Returns
/// the guest's figures line.
fn bench_vchan(domid: &str, name: &str) -> Result<String> {
    use std::io::Write;
    let id: u32 = domid.parse()?;
    let data = "/tmp/qxk-bench.bin";
    let mut bytes = Vec::new();
    vchan::send(&mut bytes, 1)?;
    bytes.truncate(vchan::STREAM_BYTES);
    std::fs::write(data, &bytes)?;
    let node1 = format!("{}/vchan-node1", vm::BIN_DIR);
    for round in vm::BENCH_ROUNDS {
        let path = format!("/local/domain/{id}/data/qxk-bench-{round}");
        if round.starts_with('c') {
            tool::run(
                "sh",
                &[
                    "-c",
                    &format!("{node1} server write {id} {path} < {data} 2>/dev/null"),
                ],
                Duration::from_secs(300),
            )?;
        } else {
            let mut v = Vchan::server(id, &path, 0, 0)?;
            v.write_all(&bytes).context("our vchan server's write")?;
        }
    }
    let start = Instant::now();
    loop {
        let console = console_of(name);
        if let Some(l) = console.lines().find(|l| l.contains(vm::BENCH_MARKER)) {
            return Ok(l.trim_end().to_string());
        }
        ensure!(
            start.elapsed() < Duration::from_secs(300),
            "no {} line from the guest within 300 s",
            vm::BENCH_MARKER
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `bytes` in `ms` (a number the guest printed) as MiB/s.
fn rate(bytes: usize, ms: &str) -> String {
    match ms.parse::<f64>() {
        Ok(ms) if ms > 0.0 => format!(
            "{:.1} MiB/s",
            bytes as f64 / (1 << 20) as f64 / (ms / 1000.0)
        ),
        _ => format!("no rate: the guest printed {ms:?} ms"),
    }
}

/// `key=value` fields of a marker line.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
}

/// The guest bundle's proof (issue 15) from what the image domU showed: its own name read
/// with the bundle's `xs`, the vchan client's libxen* all mapped from the bundle, and one
/// stream each way with equal checksums on both ends.
fn bundle_checks(rep: &mut Reporter, seen: &BundleSeen) {
    let version = std::fs::read_to_string(vm::BUNDLE_VERSION_FILE)
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    rep.run("bundle/xs-name", || {
        let line = seen
            .name_line
            .as_deref()
            .context("the image domU printed no name line (see image/template-domu-name)")?;
        let (xs, name, rc) = (field(line, "xs"), field(line, "name"), field(line, "rc"));
        ensure!(
            xs == vm::BUNDLE_XS && name == seen.name && rc == "0",
            "the template's init printed {line:?}, expected xs={} name={} rc=0",
            vm::BUNDLE_XS,
            seen.name
        );
        Ok(format!(
            "{xs} read name printed {name} in the domU (its xenstore home)"
        ))
    });
    let vchan_line = || -> Result<&str> {
        let line = seen
            .vchan_line
            .as_deref()
            .with_context(|| format!("the image domU printed no {} line", vm::VCHAN_MARKER))?;
        let error = line.split_once(" error=").map(|(_, e)| e);
        if let Some(e) = error {
            bail!("the domU's vchan client failed: {e}");
        }
        Ok(line)
    };
    rep.run("bundle/vchan-libs", || {
        let line = vchan_line()?;
        let libs: Vec<&str> = field(line, "libs").split(',').filter(|l| !l.is_empty()).collect();
        let dir = format!("/opt/qubes-xen/{version}/lib/");
        let outside: Vec<&&str> = libs.iter().filter(|l| !l.starts_with(&dir)).collect();
        ensure!(
            outside.is_empty() && libs.iter().any(|l| l.contains("/libxenvchan.so.")),
            "the domU's vchan client mapped {libs:?}; expected libxenvchan and every libxen* from {dir}"
        );
        Ok(format!("the domU's vchan client mapped {}", libs.join(", ")))
    });
    let server = || -> Result<&(vchan::Transfer, vchan::Transfer)> {
        match &seen.server {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => bail!("dom0's vchan server: {e}"),
            None => bail!("dom0's vchan server never ran (see image/template-domu-name)"),
        }
    };
    let mib = vchan::STREAM_BYTES >> 20;
    rep.run("bundle/vchan-dom0-to-domu", || {
        let line = vchan_line()?;
        let (sent, _) = server()?;
        let (bytes, sha, announced, ms) = (
            field(line, "recv_bytes"),
            field(line, "recv_sha256"),
            field(line, "recv_announced"),
            field(line, "recv_ms"),
        );
        ensure!(
            bytes == sent.bytes.to_string() && sha == sent.sha256 && announced == sent.sha256,
            "dom0 sent {} bytes with sha256 {}; the domU received {bytes} bytes with sha256 {sha} (announced {announced})",
            sent.bytes,
            sent.sha256
        );
        Ok(format!(
            "{mib} MiB, sha256 {sha} on both ends; the domU read them in {ms} ms ({}); dom0's write took {} ms, the domU's boot and connect included",
            rate(vchan::STREAM_BYTES, ms),
            sent.elapsed.as_millis(),
        ))
    });
    rep.run("bundle/vchan-domu-to-dom0", || {
        let line = vchan_line()?;
        let (_, got) = server()?;
        let (bytes, sha, ms, ack) = (
            field(line, "sent_bytes"),
            field(line, "sent_sha256"),
            field(line, "send_ms"),
            field(line, "ack"),
        );
        let announced = got.announced.as_deref().unwrap_or_default();
        ensure!(
            bytes == got.bytes.to_string() && sha == got.sha256 && announced == got.sha256,
            "the domU sent {bytes} bytes with sha256 {sha}; dom0 received {} bytes with sha256 {} (announced {announced})",
            got.bytes,
            got.sha256
        );
        ensure!(ack == "true", "the domU did not read dom0's ack byte (ack={ack})");
        Ok(format!(
            "{mib} MiB, sha256 {sha} on both ends; dom0 read them in {} ms ({:.1} MiB/s), the domU wrote in {ms} ms",
            got.elapsed.as_millis(),
            got.mib_per_s()
        ))
    });
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Checks only a Qubes build passes: the running hypervisor's own build config, Qubes'
/// built-in command line, the pinned version and our fixed build user.
fn qubes_build_checks(rep: &mut Reporter) {
    let expected_config = || -> Result<String> {
        std::fs::read_to_string(vm::EXPECTED_CONFIG).context(vm::EXPECTED_CONFIG)
    };
    rep.run("qubes/buildinfo-config", || {
        let want = expected_config()?;
        let printed = tool::run("xenhypfs", &["cat", "/buildinfo/config"], T)?;
        // `xenhypfs cat` prints a node's text followed by one newline of its own
        // (printf("%s\n") in tools/misc/xenhypfs.c).
        let got = printed.strip_suffix('\n').unwrap_or(&printed);
        if got == want {
            return Ok(format!(
                "xenhypfs cat /buildinfo/config: {} lines, {} bytes, equal to xen-config's olddefconfig of Qubes' config",
                got.lines().count(),
                got.len()
            ));
        }
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        bail!(
            "/buildinfo/config differs from the expected config at line {}: running {:?}, expected {:?} ({} vs {} bytes)",
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first),
            got.len(),
            want.len()
        )
    });
    rep.run("qubes/builtin-cmdline", || {
        let config = expected_config()?;
        // xen-config's `.config` reader: quoting and escapes as conf reads them.
        let cmdline = xen_config::dotconfig::assignments(config.as_bytes())
            .remove("CMDLINE")
            .context("the expected config sets no CONFIG_CMDLINE")?;
        ensure!(!cmdline.is_empty(), "CONFIG_CMDLINE is empty");
        let dmesg = tool::run("xl", &["dmesg"], T)?;
        let line = dmesg
            .lines()
            .find(|l| l.contains("Built-in command line:"))
            .context("xl dmesg has no `Built-in command line:` line")?;
        ensure!(
            line.trim_end()
                .ends_with(&format!("Built-in command line: {cmdline}")),
            "xl dmesg says {line:?}, Qubes' config sets {cmdline:?}"
        );
        Ok(format!("xl dmesg: {}", line.trim()))
    });
    rep.run("qubes/version", || {
        let want = std::fs::read_to_string(vm::EXPECTED_VERSION)?
            .trim()
            .to_string();
        let user = std::fs::read_to_string(vm::EXPECTED_BUILD_USER)?
            .trim()
            .to_string();
        let info = tool::run("xl", &["info"], T)?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == name).then(|| v.trim().to_string())
                })
                .with_context(|| format!("xl info has no {name}"))
        };
        let (version, by) = (field("xen_version")?, field("cc_compile_by")?);
        ensure!(
            version == want,
            "xl info: xen_version {version}, pinned {want}"
        );
        ensure!(
            by == user,
            "xl info: cc_compile_by {by}, the build's user is {user}"
        );
        let xc = XenCtrl::open()?.version()?;
        ensure!(
            format!("{}.{}{}", xc.0, xc.1, xc.2) == want,
            "xc_version says {xc:?}, pinned {want}"
        );
        Ok(format!("Xen {version} built by {by} (xl info, xc_version)"))
    });
}

fn main() {
    let mut rep = Reporter::new();
    control_plane_check(&mut rep);
    if Path::new(vm::EXPECTED_DIR).is_dir() {
        qubes_build_checks(&mut rep);
    }
    xen_sys_checks(&mut rep);
    xenstore_checks(&mut rep, vm::XENSTORED_C);
    xenbus_in_dom0_check(&mut rep);
    domu_checks(&mut rep);
    let bundle = Path::new(vm::BUNDLE_VERSION_FILE).is_file();
    let seen = image_check(&mut rep, bundle);
    if bundle {
        bundle_checks(&mut rep, &seen);
    }
    // Builds without the OCaml tools (Qubes' definition: --disable-ocamltools) have none.
    let has_oxenstored = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(vm::XENSTORED_OCAML).is_file()));
    if has_oxenstored && switch_to_oxenstored(&mut rep) {
        xenstore_checks(&mut rep, vm::XENSTORED_OCAML);
    }
    std::process::exit(if rep.failures() == 0 { 0 } else { 1 });
}
