//! `xs`: xenstore from the command line. See `xs --help`; the code is
//! `xenstore_client::cli` (feature `cli`).

fn main() -> std::process::ExitCode {
    xenstore_client::cli::main()
}
