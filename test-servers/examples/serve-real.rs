//! Serve the real repositories of `../shared/fixtures/git/` on loopback until interrupted, and
//! print the URL rewrites for them, to run `package-defs` by hand on the real data:
//!
//! ```sh
//! cargo run -p test-servers --example serve-real   # prints PACKAGE_DEFS_URL_REWRITE=...
//! PACKAGE_DEFS_URL_REWRITE='...' cargo run -p package-defs -- update xen 4.17.6-6 --skip-tarball
//! ```

use std::io::Write;

fn main() -> std::io::Result<()> {
    let real = test_servers::RealRepos::serve()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "PACKAGE_DEFS_URL_REWRITE={}", real.rewrite_env())?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
