//! Benchmark (not a test): fetch + sha256 + OpenPGP verify of a ~45 MB tarball served on loopback,
//! against `curl -o` + `sha256sum` + `gpg --verify` of the same bytes, interleaved in the same run.
//! Prints medians and the ratio (goal ≤ 1.1×). Also the cached rerun (no network I/O).
//! Run: `cargo bench -p source-fetch --bench fetch` (env BENCH_MB, BENCH_RUNS to change).

use std::process::Command;
use std::time::{Duration, Instant};

use source_fetch::{
    verify_detached_file, DownloadCache, FetchOptions, Fetcher, PinnedKey, Sha256Digest,
};
use test_servers::{GpgKey, HttpServer};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mb: usize = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    // Incompressible pseudo-random bytes, like a compressed tarball.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..mb * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let file = tmp.path().join("xen-4.17.4.tar.gz");
    std::fs::write(&file, &data).expect("write");
    let expected = Sha256Digest::of_bytes(&data);
    let key = GpgKey::generate("Bench Signer <bench@example.org>", "rsa2048").expect("gpg key");
    let sig_path = key.sign_to_sig_file(&file).expect("sign");
    let pinned =
        PinnedKey::from_armored(&key.armored_public_key().expect("export"), "bench").expect("key");
    let server = HttpServer::start().expect("server");
    server.put("/xen.tar.gz", data);
    server.put_file("/xen.tar.gz.sig", &sig_path).expect("sig");
    let url = server.url("/xen.tar.gz");
    let sig_url = server.url("/xen.tar.gz.sig");

    let ours = |cache_dir: &std::path::Path| {
        let f = Fetcher::new(
            FetchOptions {
                quiet: true,
                ..FetchOptions::default()
            },
            DownloadCache::open(cache_dir).expect("cache"),
        )
        .expect("fetcher");
        let t = Instant::now();
        let got = f.fetch(&url, Some(&expected)).expect("fetch");
        let sig = f.fetch_bytes(&sig_url).expect("sig");
        verify_detached_file(&got.path, &sig, std::slice::from_ref(&pinned)).expect("verify");
        (t.elapsed(), got.from_cache)
    };
    let peer = |dir: &std::path::Path| {
        let out = dir.join("dl.tar.gz");
        let sig = dir.join("dl.tar.gz.sig");
        let t = Instant::now();
        let ok = Command::new("curl")
            .args(["-sSf", "-o"])
            .arg(&out)
            .arg(&url)
            .status()
            .expect("curl")
            .success()
            && Command::new("curl")
                .args(["-sSf", "-o"])
                .arg(&sig)
                .arg(&sig_url)
                .status()
                .expect("curl")
                .success();
        assert!(ok, "curl failed");
        let sum = Command::new("sha256sum")
            .arg(&out)
            .output()
            .expect("sha256sum");
        assert!(String::from_utf8_lossy(&sum.stdout).starts_with(&expected.to_hex()));
        let v = key
            .gpg()
            .arg("--verify")
            .arg(&sig)
            .arg(&out)
            .output()
            .expect("gpg");
        assert!(v.status.success(), "gpg --verify failed");
        t.elapsed()
    };

    let (mut a, mut b, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let d = tmp.path().join(format!("run-{i}"));
        std::fs::create_dir_all(&d).expect("mkdir");
        // Alternate the order so page-cache and CPU warm-up favour neither side.
        if i % 2 == 0 {
            a.push(ours(&d.join("cache")).0);
            b.push(peer(&d));
        } else {
            b.push(peer(&d));
            a.push(ours(&d.join("cache")).0);
        }
        let before = server.request_count_for("/xen.tar.gz");
        let (t, hit) = ours(&d.join("cache"));
        assert!(hit && server.request_count_for("/xen.tar.gz") == before);
        cached.push(t);
    }
    let (ma, mb_, mc) = (median(a), median(b), median(cached));
    println!("fetch+sha256+verify of {mb} MiB over loopback, median of {runs} runs:");
    println!(
        "  source-fetch               {:>8.1} ms",
        ma.as_secs_f64() * 1e3
    );
    println!(
        "  curl+sha256sum+gpg --verify {:>7.1} ms",
        mb_.as_secs_f64() * 1e3
    );
    println!(
        "  ratio ours/peer            {:>8.2}x (goal <= 1.10x)",
        ma.as_secs_f64() / mb_.as_secs_f64()
    );
    println!(
        "  cached rerun (sig refetched, file from cache + verify) {:.1} ms = {:.2}x of peer",
        mc.as_secs_f64() * 1e3,
        mc.as_secs_f64() / mb_.as_secs_f64()
    );
}
