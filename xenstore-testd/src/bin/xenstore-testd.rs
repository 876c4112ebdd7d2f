//! Runs the test xenstored until killed, so C tools, benches and e2e harnesses can use it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "A test xenstored on a unix socket (not for production)",
    after_help = "Examples:\n  xenstore-testd --socket /tmp/xs.sock &\n  XENSTORED_PATH=/tmp/xs.sock xenstore-write /a 1\n  xenstore-testd --socket /tmp/xs.sock --domain 5=/tmp/xs-dom5.sock   # second socket acting as domain 5"
)]
struct Args {
    /// Socket path for dom0 connections (must not exist).
    #[arg(long)]
    socket: PathBuf,
    /// Extra socket whose connections act as a domain: DOMID=PATH (repeatable).
    #[arg(long = "domain", value_name = "DOMID=PATH")]
    domains: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = xenstore_testd::TestServer::start_at(&args.socket)
        .with_context(|| format!("cannot listen on {}", args.socket.display()))?;
    for spec in &args.domains {
        let (dom, path) = spec.split_once('=').with_context(|| {
            format!("--domain {spec:?}: expected DOMID=PATH, e.g. 5=/tmp/dom5.sock")
        })?;
        let dom: u32 = dom
            .parse()
            .with_context(|| format!("--domain {spec:?}: {dom:?} is not a domain id"))?;
        server
            .listen(std::path::Path::new(path), dom)
            .with_context(|| format!("cannot listen on {path}"))?;
    }
    println!("listening on {}", args.socket.display());
    loop {
        std::thread::park();
    }
}
