//! What every binary of the workspace shares, so they behave as one tool set (the way cargo's
//! and ripgrep's do):
//!
//! - errors print as `error: …` followed by `  caused by: …` lines, never with a backtrace,
//!   whatever `RUST_BACKTRACE` says (an expected error is not a crash);
//! - exit codes: [`Exit`] (0 ok, 1 a check found a problem, 2 usage, 3 environment, network
//!   or I/O);
//! - logs on stderr like cargo's (`warning: …`), without timestamps or module paths;
//!   `-q` errors only, `-v` info, `-vv` debug, `-vvv` trace, `RUST_LOG` for anything finer;
//! - `--generate man|complete-bash|complete-zsh|complete-fish|complete-elvish|complete-powershell`
//!   prints a man page or shell completions made from the binary's clap definitions.
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     global: qxk_cli::GlobalArgs,
//! }
//! fn main() -> std::process::ExitCode {
//!     let cli: Cli = qxk_cli::parse();
//!     cli.global.init_logging();
//!     qxk_cli::finish((|| -> anyhow::Result<()> { Ok(()) })())
//! }
//! ```

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The exit codes of every binary (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// A check ran and found a problem (verify, reconcile, a bot gate).
    Problem = 1,
    /// The command line or an input named on it is wrong (clap's errors, unknown names).
    Usage = 2,
    /// The environment, the network or the file system failed us (everything else).
    Environment = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Wrap an error in this to say which exit code it deserves; anything not wrapped exits
/// with [`Exit::Environment`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

/// A check found a problem: exit 1.
pub fn problem(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Problem,
        message: message.into(),
    }
    .into()
}

/// A usage error found after parsing (an unknown package name, a bad combination): exit 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure {
        exit: Exit::Usage,
        message: message.into(),
    }
    .into()
}

/// The exit code `e` deserves: the first [`Failure`] in its chain, else 3.
pub fn exit_code(e: &anyhow::Error) -> Exit {
    e.chain()
        .find_map(|c| c.downcast_ref::<Failure>().map(|f| f.exit))
        .unwrap_or(Exit::Environment)
}

/// `error: …` and one `  caused by: …` line per cause that says something new (many errors
/// already quote their source in their own message).
pub fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut shown = e.to_string();
    let _ = write!(out, "error: {shown}");
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if text.is_empty() || shown.contains(&text) {
            continue;
        }
        let _ = write!(out, "\n  caused by: {text}");
        shown = text;
    }
    out.push('\n');
    out
}

/// Prints `result`'s error, if any, and turns it into the exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            let _ = std::io::stderr().write_all(render_error(&e).as_bytes());
            exit_code(&e).into()
        }
    }
}

/// The options every binary takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// More output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only print errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print a man page or shell completions for this command and exit.
    #[arg(long, value_enum, value_name = "KIND", global = true)]
    pub generate: Option<Generate>,
}

impl GlobalArgs {
    /// The log level -v/-q ask for.
    pub fn level(&self) -> Level {
        match (self.quiet, self.verbose) {
            (true, _) => Level::ERROR,
            (false, 0) => Level::WARN,
            (false, 1) => Level::INFO,
            (false, 2) => Level::DEBUG,
            _ => Level::TRACE,
        }
    }

    /// Installs the cargo-like log format on stderr; `RUST_LOG`, when set, replaces the level.
    pub fn init_logging(&self) {
        init_logging(self.level());
    }
}

/// Installs the cargo-like log format on stderr at `level` (`RUST_LOG` replaces it).
pub fn init_logging(level: Level) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => tracing_subscriber::EnvFilter::new(v),
        _ => tracing_subscriber::EnvFilter::new(level.as_str().to_ascii_lowercase()),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .event_format(CargoFormat)
        .try_init();
}

/// `warning: message key=value`, like cargo: no timestamp, no module path.
pub struct CargoFormat;

impl<S, N> FormatEvent<S, N> for CargoFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("error", "\x1b[1;31m"),
            Level::WARN => ("warning", "\x1b[1;33m"),
            Level::INFO => ("info", "\x1b[1;36m"),
            Level::DEBUG => ("debug", "\x1b[1;34m"),
            Level::TRACE => ("trace", "\x1b[1;35m"),
        };
        if writer.has_ansi_escapes() {
            write!(writer, "{colour}{label}\x1b[0m: ")?;
        } else {
            write!(writer, "{label}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        // Debug and trace lines say where they come from (the span of a git run, say).
        if *event.metadata().level() >= Level::DEBUG {
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    write!(writer, " [{}", span.name())?;
                    let ext = span.extensions();
                    if let Some(fields) = ext.get::<tracing_subscriber::fmt::FormattedFields<N>>() {
                        if !fields.is_empty() {
                            write!(writer, " {fields}")?;
                        }
                    }
                    write!(writer, "]")?;
                }
            }
        }
        writeln!(writer)
    }
}

/// What `--generate` prints.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generate {
    /// A roff man page (`man -l -`).
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
    CompleteElvish,
    CompletePowershell,
}

/// Writes the man page or completions of `cmd` to `out`.
pub fn generate(kind: Generate, cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Shell;
    let shell = match kind {
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompleteElvish => Shell::Elvish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    let mut cmd = cmd;
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// Parses the command line of `C`. `--generate KIND` is served first (it needs no
/// subcommand or required argument); a usage error exits 2 with clap's message, `--help`
/// and `--version` exit 0.
pub fn parse<C: Parser + CommandFactory>() -> C {
    parse_from(std::env::args_os())
}

/// [`parse`] on given arguments (the first is the program name).
pub fn parse_from<C: Parser + CommandFactory>(args: impl IntoIterator<Item = OsString>) -> C {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(code) = serve_generate::<C>(&args) {
        std::process::exit(code as i32);
    }
    match C::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                Exit::Usage as i32
            } else {
                Exit::Ok as i32
            });
        }
    }
}

/// Serves `--generate KIND` when `args` ask for it, before any parsing (it needs no
/// subcommand or required argument); the exit status to end with, or `None` to go on. For
/// binaries that parse on their own (`xs` keeps the C tools' exit codes).
pub fn serve_generate<C: CommandFactory>(args: &[OsString]) -> Option<Exit> {
    let kind = wanted_generate(args)?;
    let mut stdout = std::io::stdout().lock();
    Some(
        match generate(kind, C::command(), &mut stdout).and_then(|()| stdout.flush()) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                eprint!(
                    "{}",
                    render_error(&anyhow::Error::new(e).context("--generate"))
                );
                Exit::Environment
            }
        },
    )
}

fn wanted_generate(args: &[OsString]) -> Option<Generate> {
    use clap::ValueEnum;
    let mut it = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        let value = if a == "--generate" {
            it.next()?.into_owned()
        } else if let Some(v) = a.strip_prefix("--generate=") {
            v.to_string()
        } else {
            continue;
        };
        // A bad value falls through to clap, which lists the possible ones.
        return Generate::from_str(&value, false).ok();
    }
    None
}

/// `--today`-style dates: `YYYY-MM-DD`, for clap's `value_parser`.
pub fn parse_date(s: &str) -> Result<time::Date, String> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("expected a date YYYY-MM-DD, such as 2026-06-13 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct ReadError {
        path: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn causes_print_once_each() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(ReadError {
            path: "xen.toml",
            source: io,
        })
        .context("loading definitions/");
        // The io error is quoted by its parent already: not repeated.
        assert_eq!(
            render_error(&e),
            "error: loading definitions/\n  caused by: cannot read xen.toml: No such file or directory\n"
        );
        assert_eq!(exit_code(&e), Exit::Environment);
    }

    #[test]
    fn exit_codes_follow_the_first_failure_in_the_chain() {
        assert_eq!(
            exit_code(&problem("2 packages do not match")),
            Exit::Problem
        );
        assert_eq!(
            exit_code(&usage("unknown package 'nope'").context("update")),
            Exit::Usage
        );
    }

    #[test]
    fn generate_is_found_before_clap_runs() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            wanted_generate(&a(&["x", "--generate", "man"])),
            Some(Generate::Man)
        );
        assert_eq!(
            wanted_generate(&a(&["x", "-q", "--generate=complete-zsh"])),
            Some(Generate::CompleteZsh)
        );
        assert_eq!(wanted_generate(&a(&["x", "--", "--generate=man"])), None);
        assert_eq!(wanted_generate(&a(&["x", "--generate=troff"])), None);
    }

    #[test]
    fn man_and_completions_come_from_the_clap_definition() {
        #[derive(Parser)]
        #[command(name = "demo", about = "A demo")]
        struct Demo {
            /// The frobnication level.
            #[arg(long)]
            frob: u8,
            #[command(flatten)]
            global: GlobalArgs,
        }
        let mut man = Vec::new();
        generate(Generate::Man, Demo::command(), &mut man).expect("man");
        let man = String::from_utf8(man).expect("utf-8");
        assert!(man.starts_with(".ie \\n(.g .ds Aq"), "{man}");
        assert!(man.contains("frobnication level") && man.contains("\\-\\-verbose"));
        let mut bash = Vec::new();
        generate(Generate::CompleteBash, Demo::command(), &mut bash).expect("bash");
        let bash = String::from_utf8(bash).expect("utf-8");
        assert!(
            bash.contains("_demo()") && bash.contains("--frob"),
            "{bash}"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2026-06-13").map(|d| d.to_string()),
            Ok("2026-06-13".to_string())
        );
        assert!(parse_date("13/06/2026")
            .unwrap_err()
            .starts_with("expected a date YYYY-MM-DD"));
    }
}
