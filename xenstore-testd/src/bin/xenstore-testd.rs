//! Runs the test xenstored until killed, so C tools, benches and e2e harnesses can use it.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Parser)]
#[command(
    about = "A test xenstored on a unix socket (not for production)",
    after_help = "Examples:\n  xenstore-testd --socket /tmp/xs.sock &\n  XENSTORED_PATH=/tmp/xs.sock xenstore-write /a 1\n  xenstore-testd --socket /tmp/xs.sock --domain 5=/tmp/xs-dom5.sock   # second socket acting as domain 5"
)]
struct Args {
    /// Socket path for dom0 connections (must not exist).
    #[arg(long)]
    socket: PathBuf,
    /// Extra socket whose connections act as a domain: DOMID=PATH (repeatable).
    #[arg(long = "domain", value_name = "DOMID=PATH", value_parser = domain_socket)]
    domains: Vec<(u32, PathBuf)>,
    #[command(flatten)]
    global: qxk_cli::GlobalArgs,
}

fn domain_socket(spec: &str) -> Result<(u32, PathBuf), String> {
    let (dom, path) = spec
        .split_once('=')
        .ok_or("expected DOMID=PATH, e.g. 5=/tmp/dom5.sock")?;
    let dom = dom
        .parse()
        .map_err(|_| format!("{dom:?} is not a domain id (expected DOMID=PATH)"))?;
    Ok((dom, PathBuf::from(path)))
}

fn main() -> std::process::ExitCode {
    let args: Args = qxk_cli::parse();
    args.global.init_logging();
    qxk_cli::finish(serve(&args))
}

fn serve(args: &Args) -> anyhow::Result<()> {
    let server = xenstore_testd::TestServer::start_at(&args.socket)
        .with_context(|| format!("cannot listen on {}", args.socket.display()))?;
    for (dom, path) in &args.domains {
        server
            .listen(path, *dom)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
    }
    println!("listening on {}", args.socket.display());
    loop {
        std::thread::park();
    }
}
