//! Throughput against one test xenstored in the same run: 10k reads and a recursive listing
//! (`ls -r`: directory + read per node) of a 10k-node tree, for our client, `xenstore-rs`
//! and the C libxenstore (a small program compiled here with `cc`, timed internally so
//! process start-up is not counted), plus the whole-process `xs ls -r` vs `xenstore-ls`.
//! Prints ratios; run with `cargo bench -p xenstore-client --bench xenstore` or
//! `scripts/bench-xenstore.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xenstore_client::{Client, Ops};
use xenstore_rs::Xs as RsXs;

const N: usize = 10_000;
const ROUNDS: usize = 5;

const C_PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

static long long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
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

int main(int argc, char **argv) {
    struct xs_handle *h = xs_open(0);
    long long t0, t1;
    if (!h || argc < 3) return 2;
    t0 = now();
    if (!strcmp(argv[1], "reads")) {
        int i, n = atoi(argv[2]);
        char path[64];
        unsigned int len;
        for (i = 0; i < n; i++) {
            char *v;
            snprintf(path, sizeof path, "/bench/%d/%d", (i / 100) % 100, i % 100);
            v = xs_read(h, XBT_NULL, path, &len);
            if (!v) return 1;
            free(v);
        }
        t1 = now();
        printf("%lld %d\n", t1 - t0, n);
    } else {
        long c = walk(h, argv[2]);
        t1 = now();
        printf("%lld %ld\n", t1 - t0, c);
    }
    xs_close(h);
    return 0;
}
"#;

fn path(i: usize) -> String {
    format!("/bench/{}/{}", (i / 100) % 100, i % 100)
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

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
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

fn run_c(bin: &Path, sock: &Path, args: &[&str], expect: usize) -> Duration {
    let out = Command::new(bin)
        .args(args)
        .env("XENSTORED_PATH", sock)
        .output()
        .expect("run C bench");
    assert!(out.status.success(), "C bench failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let ns: u64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .expect("C bench time");
    let count: usize = it
        .next()
        .and_then(|s| s.parse().ok())
        .expect("C bench count");
    assert_eq!(count, expect, "C bench visited a different number of nodes");
    Duration::from_nanos(ns)
}

fn process(cmd: &mut Command) -> Duration {
    timed(|| {
        let out = cmd.output().expect("spawn");
        assert!(out.status.success(), "{out:?}");
    })
}

fn line(name: &str, d: Duration, ops: usize, base: Duration) {
    let rate = ops as f64 / d.as_secs_f64();
    println!(
        "  {name:<34} {:>9.2} ms  {:>10.0} ops/s  {:>5.2}x our time",
        d.as_secs_f64() * 1e3,
        rate,
        d.as_secs_f64() / base.as_secs_f64()
    );
}

fn main() {
    let server = xenstore_testd::TestServer::start().expect("start test xenstored");
    let sock = server.socket_path().to_path_buf();
    let ours = Client::open_path(&sock).expect("connect");
    ours.transact(|tx| {
        for i in 0..N {
            Ops::write(tx, &path(i), format!("value-{i}").as_bytes())?;
        }
        Ok(())
    })
    .expect("populate");
    let tree_nodes = 1 + 100 + N; // /bench, 100 directories, 10k leaves
    std::env::set_var("XENSTORED_PATH", &sock);
    let theirs = xenstore_rs::unix::XsUnix::new().expect("xenstore-rs connects");
    let dir = tempfile::tempdir().expect("tempdir");
    let c_bin = compile_c(dir.path());

    let all_paths: Vec<String> = (0..N).map(path).collect();
    let n_arg = N.to_string();
    let xs_bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/xs");

    type Contestant<'a> = (&'static str, Box<dyn FnMut() -> Duration + 'a>);
    let mut reads: Vec<Contestant> = vec![
        (
            "xenstore-client (ours)",
            Box::new(|| timed(|| (0..N).for_each(|i| drop(Ops::read(&ours, &path(i)).unwrap())))),
        ),
        (
            "xenstore-rs",
            Box::new(|| {
                timed(|| (0..N).for_each(|i| drop(RsXs::read(&theirs, &path(i)).unwrap())))
            }),
        ),
        (
            "xenstore-client pipelined read_many",
            Box::new(|| timed(|| assert!(ours.read_many(&all_paths).iter().all(|r| r.is_ok())))),
        ),
    ];
    let mut listings: Vec<Contestant> = vec![
        (
            "xenstore-client (ours)",
            Box::new(|| timed(|| assert_eq!(walk_ours(&ours, "/bench"), tree_nodes - 1))),
        ),
        (
            "xenstore-rs",
            Box::new(|| timed(|| assert_eq!(walk_rs(&theirs, "/bench"), tree_nodes - 1))),
        ),
        (
            "xenstore-client pipelined (xs ls)",
            Box::new(|| timed(|| assert_eq!(walk_ours_pipelined(&ours, "/bench"), tree_nodes - 1))),
        ),
    ];
    let mut processes: Vec<Contestant> = Vec::new();
    if xs_bin.exists() {
        processes.push((
            "xs ls -r /bench",
            Box::new(|| {
                process(
                    Command::new(&xs_bin)
                        .args(["ls", "-r", "/bench"])
                        .env("XENSTORED_PATH", &sock),
                )
            }),
        ));
    } else {
        println!("(build target/release/xs first for the whole-process figures: scripts/bench-xenstore.sh does)");
    }
    processes.push((
        "xenstore-ls /bench",
        Box::new(|| {
            process(
                Command::new("xenstore-ls")
                    .arg("/bench")
                    .env("XENSTORED_PATH", &sock),
            )
        }),
    ));
    match &c_bin {
        Some(bin) => {
            reads.insert(
                1,
                (
                    "libxenstore (C, in-process)",
                    Box::new(|| run_c(bin, &sock, &["reads", &n_arg], N)),
                ),
            );
            listings.insert(
                1,
                (
                    "libxenstore (C, in-process)",
                    Box::new(|| run_c(bin, &sock, &["ls", "/bench"], tree_nodes - 1)),
                ),
            );
        }
        None => println!("(cc or libxenstore headers missing: C in-process figures skipped)"),
    }

    let groups: [(&str, usize, &mut Vec<Contestant>); 3] = [
        ("10k reads of /bench/I/J", N, &mut reads),
        (
            "ls -r of the 10101-node tree (directory + read per node)",
            tree_nodes,
            &mut listings,
        ),
        (
            "whole process, output to a pipe",
            tree_nodes,
            &mut processes,
        ),
    ];
    println!("Same test xenstored for everyone; rounds interleaved, best of {ROUNDS}; ratio = their time / our first line's time.");
    for (title, ops, contestants) in groups {
        // Interleave rounds so load from other jobs hits every contestant alike.
        let mut bests = vec![Duration::MAX; contestants.len()];
        for _ in 0..ROUNDS {
            for (i, (_, run)) in contestants.iter_mut().enumerate() {
                bests[i] = bests[i].min(run());
            }
        }
        println!("{title}:");
        for ((name, _), d) in contestants.iter().zip(&bests) {
            line(name, *d, ops, bests[0]);
        }
    }
}
