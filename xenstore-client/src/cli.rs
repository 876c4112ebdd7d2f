//! The `xs` command line: parsing (clap derive) and execution against a [`Client`] or a
//! transaction. Lives in the library so batch mode and tests reuse it; `src/bin/xs.rs` is
//! only `main`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::escape::{escape, unescape};
use crate::{path, Client, Ops, Perm};

const EXAMPLES: &str = "\
Examples:
  xs read name domid                      # this domain's name and id (relative to /local/domain/N)
  xs write /local/domain/0/data/x 42 data/y 'a\\tb'
  xs ls -r -p /local/domain/0             # whole subtree with permissions
  xs --json ls -r device                  # machine-readable listing
  xs exists memory/target && echo yes
  xs chmod -r data b0 r5                  # owner dom0 (both), domain 5 may read
  xs watch -n 1 --timeout 30 device/vif   # wait for one change (the first event is the initial fire)
  printf 'write /a 1\\nwrite /b 2\\n' | xs batch --transaction

Exit status: 0 on success, 1 on any failure or a missing node (like xenstore-read and friends).
The daemon is found through XENSTORED_PATH, XENSTORED_RUNDIR/socket, /var/run/xenstored/socket,
then /dev/xen/xenbus.";

#[derive(Parser, Debug)]
#[command(name = "xs", version, about = "Read, write, list and watch xenstore", after_help = EXAMPLES)]
pub struct Cli {
    /// Print data as JSON (one document per command; watch prints one object per line).
    #[arg(long, global = true)]
    pub json: bool,
    /// Run the command in one transaction, retrying on conflict (EAGAIN).
    #[arg(short = 't', long, global = true)]
    pub transaction: bool,
    /// Connect to this socket or device instead of the usual search.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    #[command(flatten)]
    pub global: qxk_cli::GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The `xs` binary. Exit codes are the C tools' (0 success, 1 any failure or a missing node,
/// usage errors included), so scripts written for `xenstore-read` and friends keep working;
/// errors print as every tool of the workspace prints them (`error: …`, no backtrace).
pub fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before parsing: `xs --generate bash` has no subcommand, which clap would refuse.
    if let Some(exit) = qxk_cli::serve_generate::<Cli>(&args) {
        return std::process::ExitCode::from(if exit == qxk_cli::Exit::Ok { 0 } else { 1 });
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    cli.global.init_logging();
    let mut stdout = std::io::stdout().lock();
    match run(cli, &mut stdout) {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprint!("{}", qxk_cli::render_error(&e));
            std::process::ExitCode::from(1)
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print node values.
    Read {
        /// Nodes to read (relative paths are under /local/domain/<own id>).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Prefix each value with its path.
        #[arg(short = 'p', long)]
        prefix: bool,
        /// Print the bytes as stored, without escaping.
        #[arg(short = 'R', long)]
        raw: bool,
    },
    /// Write values: PATH VALUE [PATH VALUE ...]. Values take C-style escapes unless --raw.
    Write {
        #[arg(required = true, num_args = 2.., value_name = "PATH VALUE")]
        pairs: Vec<String>,
        /// Store values as given, without interpreting escapes.
        #[arg(short = 'R', long)]
        raw: bool,
    },
    /// List a directory; -r for the whole subtree, -p for permissions.
    Ls {
        /// Directory to list.
        #[arg(default_value = "/")]
        path: String,
        /// Descend into every subdirectory (like xenstore-ls).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Show each node's permissions.
        #[arg(short = 'p', long)]
        perms: bool,
    },
    /// Remove nodes and their subtrees.
    Rm {
        /// Nodes to remove.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Also remove parents left empty and valueless.
        #[arg(short = 'T', long)]
        tidy: bool,
    },
    /// Create empty nodes (no error if they exist).
    Mkdir {
        /// Nodes to create.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Exit 0 if every node exists, 1 otherwise.
    Exists {
        /// Nodes to test.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Set permissions: the first entry is owner and default (n/r/w/b + domid).
    Chmod {
        /// Node to change.
        path: String,
        /// Permissions, e.g. `n0 r5` (owner dom0, default none, domain 5 reads).
        #[arg(required = true)]
        perms: Vec<String>,
        /// Apply to the whole subtree.
        #[arg(short = 'r', long)]
        recursive: bool,
    },
    /// Print watch events for a path (or @introduceDomain / @releaseDomain).
    Watch {
        /// Node (its subtree is watched too) or special path.
        path: String,
        /// Stop after this many events (the initial fire counts).
        #[arg(short = 'n', long)]
        count: Option<u64>,
        /// Give up after this many seconds without reaching the count (exit 1).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
    },
    /// Run commands read from stdin, one per line (`write /a 1`); with -t all in one transaction.
    Batch,
}

/// Runs parsed arguments; returns the exit status.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<i32> {
    let client = match &cli.socket {
        Some(p) => Client::open_path(p)?,
        None => Client::open()?,
    };
    match &cli.command {
        Command::Watch {
            path,
            count,
            timeout,
        } => return watch(&client, path, *count, *timeout, cli.json, out),
        Command::Batch => {
            let mut text = String::new();
            for line in std::io::stdin().lock().lines() {
                text.push_str(&line.context("reading commands from stdin")?);
                text.push('\n');
            }
            let commands = parse_batch(&text)?;
            return run_commands(&client, &commands, cli.transaction, cli.json, out);
        }
        _ => {}
    }
    run_commands(
        &client,
        std::slice::from_ref(&cli.command),
        cli.transaction,
        cli.json,
        out,
    )
}

/// Parses batch text: one command per line, shell-style quoting, `#` comments.
pub fn parse_batch(text: &str) -> anyhow::Result<Vec<Command>> {
    let mut commands = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = shlex::split(line)
            .with_context(|| format!("stdin line {}: unbalanced quotes in {line:?}", n + 1))?;
        let cli =
            Cli::try_parse_from(std::iter::once("xs".to_string()).chain(words)).map_err(|e| {
                anyhow::anyhow!("stdin line {}: {}", n + 1, e.render().to_string().trim())
            })?;
        if matches!(cli.command, Command::Watch { .. } | Command::Batch) {
            bail!(
                "stdin line {}: watch and batch cannot run inside a batch",
                n + 1
            );
        }
        commands.push(cli.command);
    }
    Ok(commands)
}

/// Runs commands, in one transaction if asked. Output is buffered so a retried transaction
/// prints once; the status is 1 if any command failed.
pub fn run_commands(
    client: &Client,
    commands: &[Command],
    transaction: bool,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut buf = Vec::new();
    let status = if transaction {
        run_in_transaction(client, commands, json, &mut buf)?
    } else {
        let mut status = 0;
        for c in commands {
            match execute(client, c, json, &mut buf) {
                Ok(s) => status = status.max(s),
                Err(e) => {
                    out.write_all(&buf)?;
                    buf.clear();
                    out.flush()?;
                    let _ = writeln!(std::io::stderr(), "xs: {e:#}");
                    // The C tools stop at the first failure.
                    status = 1;
                    break;
                }
            }
        }
        status
    };
    out.write_all(&buf)?;
    out.flush()?;
    Ok(status)
}

/// Like the C tools' `-t`: a failing command aborts the transaction (status 1); a conflict
/// (EAGAIN from any request or the commit) reruns every command, within the retry policy.
fn run_in_transaction(
    client: &Client,
    commands: &[Command],
    json: bool,
    buf: &mut Vec<u8>,
) -> anyhow::Result<i32> {
    let policy = client.retry_policy();
    for attempt in 1..=policy.max_attempts {
        let tx = client.transaction()?;
        buf.clear();
        let mut status = 0;
        let mut conflicted = false;
        for c in commands {
            match execute(&tx, c, json, buf) {
                Ok(s) => status = status.max(s),
                Err(e) if is_daemon(&e, crate::XsErrno::EAGAIN) => {
                    conflicted = true;
                    break;
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "xs: {e:#}");
                    status = 1;
                    break;
                }
            }
        }
        if !conflicted && status != 0 {
            tx.abort()?;
            return Ok(status);
        }
        if !conflicted {
            match tx.commit() {
                Ok(()) => return Ok(status),
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::debug!(attempt, "transaction conflicted; rerunning");
        std::thread::sleep(policy.backoff(attempt));
    }
    Err(crate::Error::RetriesExhausted {
        attempts: policy.max_attempts,
    }
    .into())
}

fn is_daemon(e: &anyhow::Error, errno: crate::XsErrno) -> bool {
    e.downcast_ref::<crate::Error>()
        .and_then(crate::Error::errno)
        == Some(errno)
}

fn value_json(path: &str, value: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(value) {
        Ok(s) => json!({ "path": path, "value": s }),
        Err(_) => json!({ "path": path, "value_escaped": escape(value) }),
    }
}

/// Executes one command; returns its exit status (1 for a missing node with `exists`).
pub fn execute(
    ops: &dyn Ops,
    command: &Command,
    json: bool,
    out: &mut Vec<u8>,
) -> anyhow::Result<i32> {
    match command {
        Command::Read { paths, prefix, raw } => {
            let mut docs = Vec::new();
            for p in paths {
                let v = ops
                    .read(p)
                    .with_context(|| format!("couldn't read path {p}"))?;
                if json {
                    docs.push(value_json(p, &v));
                    continue;
                }
                if *prefix {
                    write!(out, "{p}: ")?;
                }
                if *raw {
                    out.extend_from_slice(&v);
                } else {
                    writeln!(out, "{}", escape(&v))?;
                }
            }
            if json {
                serde_json::to_writer(&mut *out, &docs)?;
                out.push(b'\n');
            }
        }
        Command::Write { pairs, raw } => {
            if pairs.len() % 2 != 0 {
                bail!(
                    "write takes PATH VALUE pairs; {:?} has no value",
                    pairs[pairs.len() - 1]
                );
            }
            for pair in pairs.chunks(2) {
                let value = if *raw {
                    pair[1].as_bytes().to_vec()
                } else {
                    unescape(&pair[1])
                };
                ops.write(&pair[0], &value)
                    .with_context(|| format!("could not write path {}", pair[0]))?;
            }
        }
        Command::Mkdir { paths } => {
            for p in paths {
                ops.mkdir(p)
                    .with_context(|| format!("could not create path {p}"))?;
            }
        }
        Command::Rm { paths, tidy } => {
            for p in paths {
                ops.rm(p)
                    .with_context(|| format!("could not remove path {p}"))?;
                if *tidy {
                    remove_empty_parents(ops, p)?;
                }
            }
        }
        Command::Exists { paths } => {
            let mut all = true;
            let mut docs = Vec::new();
            for p in paths {
                let e = ops
                    .exists(p)
                    .with_context(|| format!("couldn't check path {p}"))?;
                all &= e;
                docs.push(json!({ "path": p, "exists": e }));
            }
            if json {
                serde_json::to_writer(&mut *out, &docs)?;
                out.push(b'\n');
            }
            return Ok(if all { 0 } else { 1 });
        }
        Command::Chmod {
            path,
            perms,
            recursive,
        } => {
            let perms: Vec<Perm> = perms.iter().map(|p| p.parse()).collect::<Result<_, _>>()?;
            let mut todo = vec![path.clone()];
            while let Some(p) = todo.pop() {
                ops.set_perms(&p, &perms)
                    .with_context(|| format!("could not set permissions of {p}"))?;
                if *recursive {
                    for c in ops
                        .directory(&p)
                        .with_context(|| format!("could not list {p}"))?
                    {
                        todo.push(path::join(&p, &c));
                    }
                }
            }
        }
        Command::Ls {
            path,
            recursive,
            perms,
        } => {
            let mut entries = Vec::new();
            list(ops, path, *recursive, *perms, &mut entries)?;
            if json {
                let docs: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        let mut v = value_json(&e.path, &e.value);
                        if let Some(p) = &e.perms {
                            v["perms"] = json!(p.iter().map(|p| p.to_string()).collect::<Vec<_>>());
                        }
                        v
                    })
                    .collect();
                serde_json::to_writer(&mut *out, &docs)?;
                out.push(b'\n');
            } else {
                for e in &entries {
                    let name = e.path.rsplit('/').next().unwrap_or(&e.path);
                    write!(
                        out,
                        "{:indent$}{name} = \"{}\"",
                        "",
                        escape(&e.value),
                        indent = e.depth
                    )?;
                    if let Some(p) = &e.perms {
                        let p: Vec<String> = p.iter().map(|p| p.to_string()).collect();
                        write!(out, "  ({})", p.join(","))?;
                    }
                    out.push(b'\n');
                }
            }
        }
        Command::Watch { .. } | Command::Batch => bail!("watch and batch cannot run here"),
    }
    Ok(0)
}

struct Entry {
    path: String,
    depth: usize,
    value: Vec<u8>,
    perms: Option<Vec<Perm>>,
}

/// Fetches the listing level by level with pipelined requests (one round trip per 32
/// nodes instead of two per node), then emits it depth-first like `xenstore-ls`.
fn list(
    ops: &dyn Ops,
    root: &str,
    recursive: bool,
    perms: bool,
    out: &mut Vec<Entry>,
) -> anyhow::Result<()> {
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut nodes: HashMap<String, (Vec<u8>, Option<Vec<Perm>>)> = HashMap::new();
    let mut level = vec![root.to_string()];
    let mut top = true;
    while !level.is_empty() {
        let mut next = Vec::new();
        for (dir, listed) in level.iter().zip(ops.directory_many(&level)) {
            let names = match listed {
                Ok(n) => n,
                // A node removed while we walk is skipped, as xenstore-ls does.
                Err(e) if !top && e.is_not_found() => Vec::new(),
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("could not list path {dir}")))
                }
            };
            let kids: Vec<String> = names.iter().map(|n| path::join(dir, n)).collect();
            next.extend(kids.iter().cloned());
            children.insert(dir.clone(), kids);
        }
        let values = ops.read_many(&next);
        let mut all_perms = if perms {
            Some(ops.get_perms_many(&next).into_iter())
        } else {
            None
        };
        for (p, v) in next.iter().zip(values) {
            let pr = all_perms.as_mut().and_then(|it| it.next());
            let v = match v {
                Ok(v) => v,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(anyhow::Error::new(e).context(format!("could not read {p}"))),
            };
            let pr = match pr {
                None => None,
                Some(Ok(pr)) => Some(pr),
                Some(Err(e)) if e.is_not_found() => continue,
                Some(Err(e)) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("could not get permissions of {p}"))
                    )
                }
            };
            nodes.insert(p.clone(), (v, pr));
        }
        next.retain(|p| nodes.contains_key(p));
        level = if recursive { next } else { Vec::new() };
        top = false;
    }
    let mut stack: Vec<(String, usize)> = children
        .get(root)
        .into_iter()
        .flatten()
        .rev()
        .map(|c| (c.clone(), 0))
        .collect();
    while let Some((p, depth)) = stack.pop() {
        let Some((value, perms)) = nodes.remove(&p) else {
            continue;
        };
        stack.extend(
            children
                .get(&p)
                .into_iter()
                .flatten()
                .rev()
                .map(|c| (c.clone(), depth + 1)),
        );
        out.push(Entry {
            path: p,
            depth,
            value,
            perms,
        });
    }
    Ok(())
}

/// `rm --tidy`: walk up removing parents that have no value and no children.
fn remove_empty_parents(ops: &dyn Ops, removed: &str) -> anyhow::Result<()> {
    let mut p = removed;
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if p.is_empty() {
            break;
        }
        let empty = ops.try_read(p)?.is_some_and(|v| v.is_empty())
            && ops.directory(p).map(|d| d.is_empty()).unwrap_or(false);
        if !empty {
            break;
        }
        ops.rm(p)
            .with_context(|| format!("could not remove path {p}"))?;
    }
    Ok(())
}

fn watch(
    client: &Client,
    path: &str,
    count: Option<u64>,
    timeout: Option<f64>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let token = format!("xs-{}", std::process::id());
    client
        .watch(path, &token)
        .with_context(|| format!("could not watch {path}"))?;
    let deadline = match timeout {
        Some(t) if t.is_finite() && t >= 0.0 => {
            Some(std::time::Instant::now() + Duration::from_secs_f64(t))
        }
        Some(t) => bail!("--timeout {t}: expected a non-negative number of seconds"),
        None => None,
    };
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let wait = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        let Some(ev) = client.read_watch(wait)? else {
            return Ok(1);
        };
        if json {
            serde_json::to_writer(&mut *out, &ev)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", ev.path)?;
        }
        out.flush()?;
        seen += 1;
    }
    Ok(0)
}
