//! `xs`: xenstore from the command line. See `xs --help`.

use clap::Parser;

fn main() {
    tracing_subscriber_init();
    // Usage errors exit 1 like the C tools; help and version exit 0.
    let cli = match xenstore_client::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let mut stdout = std::io::stdout().lock();
    match xenstore_client::cli::run(cli, &mut stdout) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("xs: {e:#}");
            std::process::exit(1);
        }
    }
}

fn tracing_subscriber_init() {
    // Logs only when asked for, on stderr, so stdout stays data.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
}
