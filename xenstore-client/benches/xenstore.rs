//! Throughput against one test xenstored in the same run: 10k reads and a recursive listing
//! (`ls -r`: directory + read per node) of a 10k-node tree, for our client, `xenstore-rs`
//! and the C libxenstore (a small C program compiled here with `cc`), plus the whole-process
//! `xs ls -r` vs `xenstore-ls`.
//!
//! Every client runs the same way: in a single-threaded process of its own (the C program,
//! or this binary re-executed as a worker), on one connection for the whole run, timed
//! inside that process, driven over a pipe one unit of work at a time (so neither start-up
//! nor the pipe is counted). The test xenstored too has a process of its own, as a real
//! xenstored does. The host is shared, so the work is cut into small units (100 reads; the
//! walk of one `/bench/K` subtree) and every contestant does unit 1, then every contestant
//! unit 2, and so on, the order rotating: other load hits everyone alike. A pass is all
//! units; a figure is the median over passes of a pass's total, and the ratio to C is also
//! given as the median of the per-unit ratios. Each line also gives the client process's
//! CPU time per request.
//!
//! `cargo bench -p xenstore-client --bench xenstore [-- --smoke]` or
//! `scripts/bench-xenstore.sh [--smoke]`; `--smoke` (or `QXK_BENCH_SMOKE=1`) runs a few
//! small units once, to check that the benchmark works, not to measure.
//! `XS_BENCH_PASSES` and `XS_BENCH_N` (a multiple of 100) change the passes (default 3)
//! and the number of leaves (default 10000).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xenstore_client::{Client, Ops};
use xenstore_rs::Xs as RsXs;

const C_PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

static long long now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long walk(struct xs_handle *h, const char *path) {
    unsigned int n, len, i;
    char **names = xs_directory(h, XBT_NULL, path, &n);
    long count = 0;
    char child[4096];
    if (!names) return 0;
    for (i = 0; i < n; i++) {
        snprintf(child, sizeof child, "%s/%s", path, names[i]);
        free(xs_read(h, XBT_NULL, child, &len));
        count += 1 + walk(h, child);
    }
    free(names);
    return count;
}

/* One connection for the whole run; each stdin line is one timed unit of work:
   "reads FIRST COUNT" or "ls PATH". Prints "wall_ns cpu_ns count". */
int main(void) {
    struct xs_handle *h = xs_open(0);
    char line[4096], arg[4096];
    if (!h) return 2;
    while (fgets(line, sizeof line, stdin)) {
        long long t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        long count = 0, first, i, n;
        if (sscanf(line, "reads %ld %ld", &first, &n) == 2) {
            char path[64];
            unsigned int len;
            for (i = first; i < first + n; i++) {
                char *v;
                snprintf(path, sizeof path, "/bench/%ld/%ld", (i / 100) % 100, i % 100);
                v = xs_read(h, XBT_NULL, path, &len);
                if (!v) return 1;
                free(v);
            }
            count = n;
        } else if (sscanf(line, "ls %4095s", arg) == 1) {
            count = walk(h, arg);
        } else {
            return 3;
        }
        printf("%lld %lld %ld\n", now(CLOCK_MONOTONIC) - t0,
               now(CLOCK_PROCESS_CPUTIME_ID) - c0, count);
        fflush(stdout);
    }
    xs_close(h);
    return 0;
}
"#;

const DEFAULT_N: usize = 10_000;
const DEFAULT_PASSES: usize = 3;
/// Reads per unit, and leaves per `/bench/K` directory.
const UNIT: usize = 100;
/// Set in the re-executed child: the socket it serves on.
const SERVE_ENV: &str = "XS_BENCH_SERVE";
/// Set in a re-executed client worker: `ours` or `xenstore-rs`.
const WORKER_ENV: &str = "XS_BENCH_WORKER";

fn path(i: usize) -> String {
    format!("/bench/{}/{}", (i / UNIT) % 100, i % UNIT)
}

fn walk_ours(c: &Client, dir: &str) -> usize {
    let mut count = 0;
    for name in Ops::directory(c, dir).unwrap() {
        let child = format!("{dir}/{name}");
        Ops::read(c, &child).unwrap();
        count += 1 + walk_ours(c, &child);
    }
    count
}

/// The same walk, level by level with pipelined requests (what `xs ls -r` does).
fn walk_ours_pipelined(c: &Client, root: &str) -> usize {
    let mut level = vec![root.to_string()];
    let mut count = 0;
    while !level.is_empty() {
        let mut next = Vec::new();
        for (dir, names) in level.iter().zip(c.directory_many(&level)) {
            next.extend(names.unwrap().into_iter().map(|n| format!("{dir}/{n}")));
        }
        for v in c.read_many(&next) {
            v.unwrap();
        }
        count += next.len();
        level = next;
    }
    count
}

fn walk_rs(c: &xenstore_rs::unix::XsUnix, dir: &str) -> usize {
    let mut count = 0;
    for name in RsXs::directory(c, dir).unwrap() {
        let child = format!("{dir}/{name}");
        RsXs::read(c, &child).unwrap();
        count += 1 + walk_rs(c, &child);
    }
    count
}

/// One timed unit: wall time and the client's own CPU time.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// CPU time of this process (a worker: one thread, as the C program).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn compile_c(dir: &Path) -> Option<PathBuf> {
    let src = dir.join("xsbench.c");
    let bin = dir.join("xsbench");
    std::fs::write(&src, C_PROGRAM).ok()?;
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-lxenstore")
        .status()
        .ok()?;
    st.success().then_some(bin)
}

/// A client in a process of its own (the C program, or this binary as [`WORKER_ENV`]), one
/// connection for the whole run; each unit is one line: `reads FIRST COUNT`, `ls PATH`, and
/// for ours `read_many FIRST COUNT`, `ls_pipelined PATH`. It answers `wall_ns cpu_ns count`.
struct Worker {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
}

impl Worker {
    fn start(mut cmd: Command, sock: &Path) -> Worker {
        let mut child = cmd
            .env("XENSTORED_PATH", sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a bench client process");
        let input = child.stdin.take().expect("piped stdin");
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        Worker {
            child,
            input,
            output,
        }
    }

    fn run(&mut self, command: &str, expect: usize) -> Sample {
        writeln!(self.input, "{command}").expect("send a command to a bench client");
        let mut text = String::new();
        self.output
            .read_line(&mut text)
            .expect("read from a bench client");
        let nums: Vec<u64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        let [wall, cpu, count] = nums[..] else {
            panic!("bench client answered {text:?} to {command:?}, expected wall, cpu and count");
        };
        assert_eq!(
            count as usize, expect,
            "bench client: {command}: wrong node count"
        );
        Sample {
            wall: Duration::from_nanos(wall),
            cpu: Duration::from_nanos(cpu),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole process: wall time, and the child's CPU time (user + system).
fn process(cmd: &mut Command) -> Sample {
    let before = children_cpu();
    let t = Instant::now();
    let out = cmd.output().expect("spawn");
    let wall = t.elapsed();
    assert!(out.status.success(), "{out:?}");
    Sample {
        wall,
        cpu: children_cpu() - before,
    }
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass; all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// The test xenstored in a child process (this binary with [`SERVE_ENV`] set); killed on drop.
struct ServerProcess {
    child: std::process::Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("socket");
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(SERVE_ENV, &socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the test xenstored process");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read from the test xenstored process");
        assert_eq!(line.trim(), "ready", "test xenstored process: {line:?}");
        ServerProcess {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child side: serve until the parent closes our stdin (it exited or dropped us).
fn serve(socket: &Path) {
    let _server = xenstore_testd::TestServer::start_at(socket).expect("start test xenstored");
    println!("ready");
    let _ = std::io::stdout().flush();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

/// The worker side for our client and xenstore-rs: the C program's loop, in Rust.
fn worker(kind: &str) {
    let ours = (kind == "ours").then(|| Client::open().expect("connect"));
    let theirs = (kind == "xenstore-rs")
        .then(|| xenstore_rs::unix::XsUnix::new().expect("xenstore-rs connects"));
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("read a command");
        let words: Vec<&str> = line.split_whitespace().collect();
        let range = || -> std::ops::Range<usize> {
            let first: usize = words[1].parse().expect("FIRST");
            first..first + words[2].parse::<usize>().expect("COUNT")
        };
        let (t, c) = (Instant::now(), process_cpu());
        let count = match (words[0], &ours, &theirs) {
            ("reads", Some(o), _) => {
                range().for_each(|i| drop(Ops::read(o, &path(i)).unwrap()));
                range().len()
            }
            ("reads", _, Some(r)) => {
                range().for_each(|i| drop(RsXs::read(r, &path(i)).unwrap()));
                range().len()
            }
            ("read_many", Some(o), _) => {
                let paths: Vec<String> = range().map(path).collect();
                let replies = o.read_many(&paths);
                assert!(replies.iter().all(|r| r.is_ok()), "read_many failed");
                replies.len()
            }
            ("ls", Some(o), _) => walk_ours(o, words[1]),
            ("ls", _, Some(r)) => walk_rs(r, words[1]),
            ("ls_pipelined", Some(o), _) => walk_ours_pipelined(o, words[1]),
            _ => panic!("{kind} worker: unknown command {line:?}"),
        };
        let (wall, cpu) = (t.elapsed(), process_cpu() - c);
        writeln!(out, "{} {} {count}", wall.as_nanos(), cpu.as_nanos()).expect("answer");
        out.flush().expect("answer");
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A contestant: a name and a function timing one unit of work.
type Contestant<'a> = (&'static str, Box<dyn FnMut(usize) -> Sample + 'a>);

struct Group<'a> {
    title: String,
    /// Units per pass, and requests or nodes per pass (for the rates).
    units: usize,
    ops: usize,
    contestants: Vec<Contestant<'a>>,
}

fn run_group(g: &mut Group, passes: usize) {
    let k = g.contestants.len();
    // samples[contestant][pass][unit]
    let mut samples = vec![vec![Vec::with_capacity(g.units); passes]; k];
    for (pass, _) in (0..passes).enumerate() {
        for u in 0..g.units {
            for j in 0..k {
                let i = (j + u + pass) % k;
                let s = (g.contestants[i].1)(u);
                samples[i][pass].push(s);
            }
        }
    }
    let total = |v: &[Sample]| -> (Duration, Duration) {
        v.iter()
            .fold((Duration::ZERO, Duration::ZERO), |(w, c), s| {
                (w + s.wall, c + s.cpu)
            })
    };
    let figures: Vec<(Duration, Duration)> = samples
        .iter()
        .map(|per_pass| {
            let totals: Vec<(Duration, Duration)> = per_pass.iter().map(|v| total(v)).collect();
            (
                median(totals.iter().map(|t| t.0).collect()),
                median(totals.iter().map(|t| t.1).collect()),
            )
        })
        .collect();
    println!("{}:", g.title);
    let base = figures[0].0;
    for (((name, _), (wall, cpu)), per_pass) in g.contestants.iter().zip(&figures).zip(&samples) {
        // The spread of single units: a pass's total is easily dominated by a few units
        // during which the process waited for a CPU.
        let mut units: Vec<Duration> = per_pass.iter().flatten().map(|s| s.wall).collect();
        units.sort();
        let q = |f: f64| units[((units.len() - 1) as f64 * f) as usize].as_secs_f64() * 1e3;
        println!(
            "  {name:<36} {:>9.2} ms {:>9.0} ops/s {:>5.2}x our time  CPU {:>5.2} us/op  units p10/p50/p90/max {:.2}/{:.2}/{:.2}/{:.1} ms",
            wall.as_secs_f64() * 1e3,
            g.ops as f64 / wall.as_secs_f64(),
            wall.as_secs_f64() / base.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / g.ops as f64,
            q(0.1),
            q(0.5),
            q(0.9),
            q(1.0),
        );
    }
    if let Some(c) = g
        .contestants
        .iter()
        .position(|(n, _)| n.starts_with("libxenstore"))
    {
        let per_unit: Vec<f64> = samples[c]
            .iter()
            .flatten()
            .zip(samples[0].iter().flatten())
            .map(|(c, o)| c.wall.as_secs_f64() / o.wall.as_secs_f64())
            .collect();
        println!(
            "  => ours: {:.2}x C's throughput (median pass totals); median per-unit ratio {:.2}x over {} units; CPU per request {:.2}x C's",
            figures[c].0.as_secs_f64() / base.as_secs_f64(),
            median(per_unit.clone()),
            per_unit.len(),
            figures[0].1.as_secs_f64() / figures[c].1.as_secs_f64(),
        );
    }
}

fn main() {
    if let Some(socket) = std::env::var_os(SERVE_ENV) {
        serve(Path::new(&socket));
        return;
    }
    if let Ok(kind) = std::env::var(WORKER_ENV) {
        worker(&kind);
        return;
    }
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("QXK_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let n = env_number("XS_BENCH_N").unwrap_or(if smoke { 300 } else { DEFAULT_N });
    let n = (n / UNIT).clamp(1, 100) * UNIT;
    let dirs = n / UNIT;
    let passes = env_number("XS_BENCH_PASSES")
        .unwrap_or(if smoke { 1 } else { DEFAULT_PASSES })
        .max(1);
    let server = ServerProcess::start();
    let sock = server.socket.clone();
    let populate = Client::open_path(&sock).expect("connect");
    populate
        .transact(|tx| {
            for i in 0..n {
                Ops::write(tx, &path(i), format!("value-{i}").as_bytes())?;
            }
            Ok(())
        })
        .expect("populate");
    drop(populate);
    let tree_nodes = 1 + dirs + n; // /bench, its directories, the leaves
    std::env::set_var("XENSTORED_PATH", &sock);
    let dir = tempfile::tempdir().expect("tempdir");
    let c_bin = compile_c(dir.path());
    // Every client in a single-threaded process of its own, driven the same way.
    let own = std::env::current_exe().expect("own path");
    let rust_worker = |kind: &str| {
        let mut cmd = Command::new(&own);
        cmd.env(WORKER_ENV, kind);
        std::cell::RefCell::new(Worker::start(cmd, &sock))
    };
    let (ours, theirs) = (rust_worker("ours"), rust_worker("xenstore-rs"));
    let c_client = c_bin
        .as_deref()
        .map(|b| std::cell::RefCell::new(Worker::start(Command::new(b), &sock)));
    // `xs` is built next to this bench's own directory (target/PROFILE/deps/..).
    let xs_bin = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("xs")))
        .filter(|p| p.is_file());

    let subtree = |u: usize| format!("/bench/{u}");
    let reads_of = |w: &std::cell::RefCell<Worker>, cmd: &str, u: usize| {
        w.borrow_mut()
            .run(&format!("{cmd} {} {UNIT}", u * UNIT), UNIT)
    };
    let ls_of = |w: &std::cell::RefCell<Worker>, cmd: &str, u: usize| {
        w.borrow_mut().run(&format!("{cmd} {}", subtree(u)), UNIT)
    };
    let mut reads: Vec<Contestant> = vec![
        (
            "xenstore-client (ours)",
            Box::new(|u| reads_of(&ours, "reads", u)),
        ),
        ("xenstore-rs", Box::new(|u| reads_of(&theirs, "reads", u))),
        (
            "xenstore-client pipelined read_many",
            Box::new(|u| reads_of(&ours, "read_many", u)),
        ),
    ];
    let mut listings: Vec<Contestant> = vec![
        (
            "xenstore-client (ours)",
            Box::new(|u| ls_of(&ours, "ls", u)),
        ),
        ("xenstore-rs", Box::new(|u| ls_of(&theirs, "ls", u))),
        (
            "xenstore-client pipelined (xs ls)",
            Box::new(|u| ls_of(&ours, "ls_pipelined", u)),
        ),
    ];
    let mut processes: Vec<Contestant> = Vec::new();
    let sock_ref = sock.as_path();
    match xs_bin.as_deref() {
        Some(xs) => processes.push((
            "xs ls -r /bench",
            Box::new(move |_| {
                process(
                    Command::new(xs)
                        .args(["ls", "-r", "/bench"])
                        .env("XENSTORED_PATH", sock_ref),
                )
            }),
        )),
        None => println!(
            "(build xs with --features cli first for the whole-process figures: scripts/bench-xenstore.sh does)"
        ),
    }
    processes.push((
        "xenstore-ls /bench",
        Box::new(move |_| {
            process(
                Command::new("xenstore-ls")
                    .arg("/bench")
                    .env("XENSTORED_PATH", sock_ref),
            )
        }),
    ));
    match &c_client {
        Some(c) => {
            reads.insert(
                1,
                (
                    "libxenstore (C)",
                    Box::new(move |u| reads_of(c, "reads", u)),
                ),
            );
            listings.insert(1, ("libxenstore (C)", Box::new(move |u| ls_of(c, "ls", u))));
        }
        None => println!("(cc or libxenstore headers missing: C figures skipped)"),
    }

    let mut groups = [
        Group {
            title: format!("{n} reads of /bench/I/J, in units of {UNIT}"),
            units: dirs,
            ops: n,
            contestants: reads,
        },
        Group {
            title: format!(
                "ls -r of the {} nodes under /bench (directory + read per node), one /bench/K per unit",
                tree_nodes - 1
            ),
            units: dirs,
            ops: n + dirs,
            contestants: listings,
        },
        Group {
            title: format!("whole process `ls -r` of {tree_nodes} nodes, output to a pipe, one run per unit"),
            units: if smoke { 1 } else { 3 },
            ops: tree_nodes,
            contestants: processes,
        },
    ];
    println!(
        "One test xenstored (own process) for everyone; units interleaved (order rotates), {passes} passes, medians; \
         ratio = their time / our first line's; CPU = the client's own CPU time per request{}",
        if smoke { " [SMOKE RUN: checks the benchmark works, not a measurement]" } else { "" }
    );
    for g in &mut groups {
        run_group(g, passes);
    }
}
