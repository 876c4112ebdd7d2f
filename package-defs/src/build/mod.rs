//! `build`: Xen built from a package's verified trees the way Qubes' `xen.spec.in` builds it.
//!
//! Steps, each with its own log under `logs/`: the series applied with `patch -p1 --fuzz=0`
//! (rpm's `%autosetup`), Qubes' `config` installed as `xen/.config` and completed by
//! xen-config's `olddefconfig` (the Rust Kconfig engine, byte-identical to Xen's `conf`), the
//! hypervisor built with `make xen EFI_VENDOR=qubes`, then (unless hypervisor-only)
//! `./configure` with the definition's flags and `make dist-tools`.
//!
//! Every step runs in a cleared environment: `PATH=/usr/bin:/bin` and `PYTHON=/usr/bin/python3`
//! (Debian's python, never a pyenv shim first on a user's PATH), `LC_ALL=C`, `TZ=UTC`,
//! `SOURCE_DATE_EPOCH` from the Qubes tag and fixed `XEN_BUILD_*`/`XEN_WHOAMI`/`XEN_DOMAIN`,
//! so two builds give a byte-identical `xen.gz`.
//!
//! The output folder is built as a hidden sibling and renamed into place; on failure nothing
//! is left where the output should be, only the logs in `<output>.failed-logs/`. Finished
//! outputs are cached by the key of every input (pins, flags, mode, toolchain, this recipe's
//! version); a hit is copied and checked against its manifest's sha256s before use, and a
//! corrupt entry is dropped and built again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qxk_process::Cmd;
use serde::{Deserialize, Serialize};

use crate::defs::model::{DataDef, Package, XenDef};
use crate::sources::prepare::{self, Headers, PrepareError};

/// Bump when the steps, their environment or the output layout change: part of the cache key.
pub const RECIPE_VERSION: u32 = 2;

/// `EFI_VENDOR` Qubes' spec builds with (`xen.efi` lands in `boot/efi/efi/qubes/`).
pub const EFI_VENDOR: &str = "qubes";
/// The fixed identity of the build (what `xl info` shows as `cc_compile_by` and friends).
pub const BUILD_USER: &str = "qubes-xen-kit";
pub const BUILD_DOMAIN: &str = "qubes-xen-kit.invalid";
pub const BUILD_HOST: &str = "qubes-xen-kit";
/// The python every step sees, whatever is first on the caller's PATH.
pub const PYTHON: &str = "/usr/bin/python3";
const PATH: &str = "/usr/bin:/bin:/usr/sbin:/sbin";

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The hypervisor and the tools (`make xen` + `make dist-tools`).
    Full,
    /// The hypervisor only (`make xen`): `xen.gz` and its config.
    Hypervisor,
    /// The guest libraries as Qubes' Arch recipe builds them for VMs (its VM series, its
    /// configure flags), only libxenvchan's closure, under a private prefix with
    /// `RUNPATH=$ORIGIN/../lib`.
    Vm,
}

pub mod config_check;
pub mod guest;
mod vm;
pub use vm::{libs_closure, vm_prefix, PREFIX_ROOT, RUNPATH, VM_ROOT_LIBRARY};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("build step `{step}` failed; full log: {}\n{detail}", log.display())]
    Step {
        step: &'static str,
        log: PathBuf,
        detail: String,
    },
    #[error("{}: already exists; remove it or pass --replace", path.display())]
    Exists { path: PathBuf },
    #[error("the build made no {}; see {}", missing.display(), log.display())]
    Missing { missing: PathBuf, log: PathBuf },
    #[error(transparent)]
    Recipe(#[from] crate::defs::spec::SpecError),
    #[error("olddefconfig turned off options Qubes' config sets: {options}; this toolchain cannot build them (log: {}). Build with a compiler and assembler that support them, or list them in `allow_dropped_options` of {}", log.display(), definition.display())]
    DroppedOptions {
        options: String,
        log: PathBuf,
        definition: PathBuf,
    },
    #[error("{}: {found}; expected {expected}", path.display())]
    Unexpected {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        path: path.into(),
        what,
        source,
    }
}

/// The NAR sha256 (Nix base32) of an installed tree, as the manifest records it.
fn nar_of(tree: &Path) -> Result<String, BuildError> {
    content_hash::nar_hash(tree)
        .map(|h| h.to_nix_base32())
        .map_err(|e| BuildError::Io {
            path: tree.into(),
            what: "NAR hash",
            source: std::io::Error::other(e),
        })
}

/// How long a build step may take: in total, and without printing anything.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No new output for this long means it hangs.
    pub inactivity: Duration,
    pub total: Duration,
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub mode: Mode,
    /// `make -j`.
    pub jobs: usize,
    /// Limits of each step (`make xen`, `configure`, `make dist-tools`, olddefconfig).
    pub limits: Limits,
    /// Finished builds by input key (`None`: build every time, store nothing).
    pub cache: Option<PathBuf>,
    /// Replace an existing output folder.
    pub replace: bool,
    /// Draw progress on the terminal.
    pub progress: bool,
    /// Completes Qubes' config for the tree (xen-config's olddefconfig).
    pub complete: std::sync::Arc<dyn CompleteConfig>,
}

/// `olddefconfig` for a Xen tree: completes `config` with the tree's defaults, as Xen's own
/// `conf` would. Implemented by xen-config (its program here; its library where a crate may
/// depend on both, as the cross-crate tests do).
pub trait CompleteConfig: std::fmt::Debug + Send + Sync {
    /// The completed config for `xen_dir` (holds `Kconfig`); errors as one message.
    fn olddefconfig(
        &self,
        xen_dir: &Path,
        config: &Path,
        env: &Environment,
    ) -> Result<Vec<u8>, String>;

    /// What identifies this completer in the build cache's key: another xen-config may
    /// complete the same config differently, so its builds must not be reused.
    fn identity(&self) -> String;
}

/// The `xen-config` program's `olddefconfig`, run in the build environment.
#[derive(Debug, Clone)]
pub struct XenConfigProgram(pub PathBuf);

impl CompleteConfig for XenConfigProgram {
    fn olddefconfig(
        &self,
        xen_dir: &Path,
        config: &Path,
        env: &Environment,
    ) -> Result<Vec<u8>, String> {
        let tmp = tempfile::tempdir().map_err(|e| format!("cannot create a temp folder: {e}"))?;
        let out = tmp.path().join("config");
        let mut c = env.command(&self.0.to_string_lossy(), tmp.path());
        c.arg("olddefconfig")
            .arg("--xen-dir")
            .arg(xen_dir)
            .arg("--config")
            .arg(config)
            .arg("--no-probe-cache")
            .arg("-o")
            .arg(&out);
        c.current_dir(xen_dir)
            .timeout(Duration::from_secs(600))
            .run()
            .map_err(|e| format!("{e} (is xen-config built? set QXK_XEN_CONFIG to its path)"))?;
        std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
    }

    fn identity(&self) -> String {
        // The program's bytes; one that cannot be read keys as its path (the build then
        // fails at olddefconfig and caches nothing).
        match content_hash::hash_file(&self.0) {
            Ok((d, _)) => format!("xen-config program sha256:{}", d.to_hex()),
            Err(_) => format!("xen-config program {}", self.0.display()),
        }
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Full,
            jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
            limits: Limits {
                inactivity: Duration::from_secs(600),
                total: Duration::from_secs(3 * 3600),
            },
            cache: default_cache_dir(),
            replace: false,
            progress: false,
            complete: std::sync::Arc::new(XenConfigProgram(find_xen_config())),
        }
    }
}

/// `$QXK_CACHE_DIR/xen-build`, else `/var/cache/qubes-xen-kit/xen-build`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let root = std::env::var_os("QXK_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/qubes-xen-kit"));
    Some(root.join("xen-build"))
}

/// The verified inputs of one build.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub package: &'a Package,
    pub xen: &'a XenDef,
    pub data_package: &'a Package,
    pub data: &'a DataDef,
    pub qubes_dir: &'a Path,
    pub upstream_dir: &'a Path,
    /// The Qubes tag's date (its commit's for an untagged stream), seconds since the epoch.
    pub source_date_epoch: i64,
}

/// `manifest.json` of an output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub recipe: u32,
    pub package: String,
    /// `VERSION-REL`.
    pub version: String,
    pub mode: Mode,
    pub inputs: InputPins,
    pub environment: Environment,
    pub toolchain: std::collections::BTreeMap<String, String>,
    /// sha256 of every input above, the cache key.
    pub key: String,
    /// Output file (relative to the folder) -> sha256 hex; `install` is the NAR sha256
    /// (Nix/Guix base32) of the installed tree.
    pub outputs: std::collections::BTreeMap<String, String>,
    /// Whether xen-config's olddefconfig gave the config `make` then used, byte for byte
    /// (false in vm mode, which builds no hypervisor).
    pub config_matches_olddefconfig: bool,
    /// vm mode: the install prefix (`/opt/qubes-xen/<version>-<rel>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// vm mode: the libraries built (tools/libs folder names), dependencies first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
    /// Seconds each step took (not part of the key).
    pub seconds: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputPins {
    pub upstream_origin: String,
    pub upstream_tag: String,
    pub upstream_commit: Option<String>,
    pub upstream_nar_sha256: Option<String>,
    pub upstream_tarball_sha256: Option<String>,
    pub qubes_repo: String,
    pub qubes_tag: Option<String>,
    pub qubes_commit: String,
    pub qubes_nar_sha256: String,
    pub config_sha256: String,
    /// `NNNN file sha256`, in series order (vm mode: the VM series).
    pub patches: Vec<String>,
    pub configure_flags: Vec<String>,
    /// Options of Qubes' config the definition lets `olddefconfig` drop (`CONFIG_NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_dropped_options: Vec<String>,
    /// vm mode: the recipe the VM series and flags were read from and how it runs `patch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_recipe: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    pub source_date_epoch: i64,
    pub xen_build_date: String,
    pub xen_build_time: String,
    pub xen_whoami: String,
    pub xen_domain: String,
    pub xen_build_host: String,
    pub efi_vendor: String,
    pub python: String,
    pub path: String,
}

impl Environment {
    fn new(epoch: i64) -> Result<Self, BuildError> {
        let t = time::OffsetDateTime::from_unix_timestamp(epoch).map_err(|e| BuildError::Io {
            path: PathBuf::from("SOURCE_DATE_EPOCH"),
            what: "out of range",
            source: std::io::Error::other(e),
        })?;
        // `LC_ALL=C date -u` style, as Xen's Makefile would print it.
        let date = t
            .format(time::macros::format_description!(
                "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] UTC [year]"
            ))
            .unwrap_or_default();
        let clock = t
            .format(time::macros::format_description!(
                "[hour]:[minute]:[second]"
            ))
            .unwrap_or_default();
        Ok(Self {
            source_date_epoch: epoch,
            xen_build_date: date,
            xen_build_time: clock,
            xen_whoami: BUILD_USER.into(),
            xen_domain: BUILD_DOMAIN.into(),
            xen_build_host: BUILD_HOST.into(),
            efi_vendor: EFI_VENDOR.into(),
            python: PYTHON.into(),
            path: PATH.into(),
        })
    }

    /// A command in this environment and nothing else from the caller's.
    fn command(&self, program: &str, home: &Path) -> Cmd {
        let mut c = Cmd::new(program);
        c.env_clear()
            .env("PATH", &self.path)
            .env("HOME", home)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env("SOURCE_DATE_EPOCH", self.source_date_epoch.to_string())
            .env("XEN_BUILD_DATE", &self.xen_build_date)
            .env("XEN_BUILD_TIME", &self.xen_build_time)
            .env("XEN_WHOAMI", &self.xen_whoami)
            .env("XEN_DOMAIN", &self.xen_domain)
            .env("XEN_BUILD_HOST", &self.xen_build_host)
            .env("PYTHON", &self.python);
        c
    }
}

fn input_pins(i: &Inputs<'_>) -> InputPins {
    let u = &i.xen.upstream;
    let s = &i.data.source;
    InputPins {
        upstream_origin: u.origin.as_str().into(),
        upstream_tag: u.tag.clone(),
        upstream_commit: u.commit.clone(),
        upstream_nar_sha256: u.nar_sha256.clone(),
        upstream_tarball_sha256: u.tarball.sha256.clone(),
        qubes_repo: s.repo.clone(),
        qubes_tag: s.tag.clone(),
        qubes_commit: s.commit.clone(),
        qubes_nar_sha256: s.nar_sha256.clone(),
        config_sha256: i.data.config.sha256.clone(),
        patches: i
            .data
            .patches
            .iter()
            .map(|p| format!("{:04} {} {}", p.number, p.file, p.sha256))
            .collect(),
        configure_flags: i.xen.configure_flags.clone(),
        allow_dropped_options: i.xen.allow_dropped_options.clone(),
        vm_recipe: None,
    }
}

/// The pins of building `i` in `mode` (vm mode reads the VM series from the data tree).
fn pins_for(i: &Inputs<'_>, mode: Mode) -> Result<InputPins, BuildError> {
    match mode {
        Mode::Vm => vm::pins(i),
        Mode::Full | Mode::Hypervisor => Ok(input_pins(i)),
    }
}

/// First line of `program --version` (run in the build environment), or why not.
fn tool_version(env: &Environment, home: &Path, program: &str) -> String {
    let mut c = env.command(program, home);
    c.arg("--version");
    match c.current_dir(home).timeout(Duration::from_secs(30)).run() {
        Ok(out) => out
            .stdout_lossy()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Err(e) => format!("unavailable: {e}"),
    }
}

/// The toolchain every step uses, by version (part of the cache key).
pub fn toolchain(env: &Environment, home: &Path) -> std::collections::BTreeMap<String, String> {
    ["gcc", "ld", "make", PYTHON, "patch", "bison", "flex"]
        .iter()
        .map(|p| (p.to_string(), tool_version(env, home, p)))
        .collect()
}

fn key_of(
    pins: &InputPins,
    env: &Environment,
    tools: &std::collections::BTreeMap<String, String>,
    mode: Mode,
    package: &str,
    completer: &str,
) -> String {
    let v = serde_json::json!({
        "recipe": RECIPE_VERSION,
        "package": package,
        "mode": mode,
        "config_completer": completer,
        "inputs": pins,
        "environment": env,
        "toolchain": tools,
    });
    // vm mode's own recipe changes; absent from the other modes' keys, which stay as they were.
    let mut v = v;
    if mode == Mode::Vm {
        v["vm_recipe"] = vm::VM_RECIPE_VERSION.into();
    }
    content_hash::Sha256Digest::of_bytes(v.to_string().as_bytes()).to_hex()
}

/// Progress on the terminal: one bar for the step list, the current step's last line.
struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(enabled: bool, steps: u64) -> Self {
        let bar = if enabled {
            let b = indicatif::ProgressBar::new(steps);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {pos}/{len} {prefix:.bold} {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        Self { bar }
    }
    fn step(&self, name: &'static str) {
        self.bar.set_prefix(name);
        self.bar.set_message("");
    }
    fn line(&self, l: &str) {
        if !l.is_empty() {
            self.bar.set_message(l.to_string());
        }
    }
    fn done(&self) {
        self.bar.inc(1);
    }
}

/// Runs one logged step; a failure names the step and its log.
/// What every logged step of one build shares: its tree, log folder, limits and progress.
struct StepCtx<'a> {
    dir: &'a Path,
    logs: &'a Path,
    limits: Limits,
    progress: &'a Progress,
}

fn step(
    ctx: &StepCtx<'_>,
    name: &'static str,
    mut cmd: Cmd,
    seconds: &mut std::collections::BTreeMap<String, f64>,
) -> Result<(), BuildError> {
    let StepCtx {
        dir,
        logs,
        limits,
        progress,
    } = *ctx;
    progress.step(name);
    let log = logs.join(format!("{name}.log"));
    let t = std::time::Instant::now();
    tracing::info!("build step {name}: log {}", log.display());
    let bar = progress.bar.clone();
    cmd.current_dir(dir)
        .timeout(limits.total)
        .inactivity_timeout(limits.inactivity);
    cmd.run_logged(&log, move |l| {
        if !l.is_empty() {
            bar.set_message(l.to_string());
        }
    })
    .map_err(|e| BuildError::Step {
        step: name,
        log: log.clone(),
        detail: e.to_string(),
    })?;
    seconds.insert(name.to_string(), t.elapsed().as_secs_f64());
    progress.done();
    Ok(())
}

/// Builds `inputs` into the folder `out`; returns its manifest.
pub fn build(inputs: &Inputs<'_>, opts: &BuildOptions, out: &Path) -> Result<Manifest, BuildError> {
    if out.exists() && !opts.replace {
        return Err(BuildError::Exists { path: out.into() });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent, "create"))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "build".into());
    let work = parent.join(format!(".{name}.build-{}", std::process::id()));
    let failed_logs = parent.join(format!("{name}.failed-logs"));
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io(&work, "remove a stale build folder"))?;
    }
    std::fs::create_dir_all(work.join("logs")).map_err(io(&work, "create"))?;
    let result = build_in(inputs, opts, &work);
    match result {
        Ok(manifest) => {
            let staged = work.join("out");
            let installed = std::fs::rename(work.join("logs"), staged.join("logs"))
                .map_err(io(&staged, "move the logs"))
                .and_then(|_| install_output(&staged, out, opts.replace));
            // Whatever happened, the work folder (a whole Xen tree) does not stay.
            let _ = std::fs::remove_dir_all(&work);
            installed?;
            let _ = std::fs::remove_dir_all(&failed_logs);
            Ok(manifest)
        }
        Err(e) => {
            // Keep only the logs, beside where the output would have been.
            let _ = std::fs::remove_dir_all(&failed_logs);
            let kept = std::fs::rename(work.join("logs"), &failed_logs).is_ok();
            let _ = std::fs::remove_dir_all(&work);
            Err(if kept {
                relocate_logs(e, &work.join("logs"), &failed_logs)
            } else {
                e
            })
        }
    }
}

/// An error naming a log inside the removed work folder now names where the logs were kept.
fn relocate_logs(e: BuildError, from: &Path, to: &Path) -> BuildError {
    let fix = |p: PathBuf| match p.strip_prefix(from) {
        Ok(rest) => to.join(rest),
        Err(_) => p,
    };
    let from_s = from.display().to_string();
    let to_s = to.display().to_string();
    match e {
        BuildError::Step { step, log, detail } => BuildError::Step {
            step,
            log: fix(log),
            detail: detail.replace(&from_s, &to_s),
        },
        BuildError::Missing { missing, log } => BuildError::Missing {
            missing,
            log: fix(log),
        },
        other => other,
    }
}

/// Moves the finished folder into place (replacing an old one only when asked).
fn install_output(staged: &Path, out: &Path, replace: bool) -> Result<(), BuildError> {
    if out.exists() {
        if !replace {
            return Err(BuildError::Exists { path: out.into() });
        }
        let old = out.with_file_name(format!(
            ".{}.old-{}",
            out.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::rename(out, &old).map_err(io(out, "move the old output aside"))?;
        std::fs::rename(staged, out).map_err(io(out, "move into place"))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(staged, out).map_err(io(out, "move into place"))?;
    }
    Ok(())
}

/// The cache key of building `inputs` with `opts` here (it probes the toolchain's versions).
pub fn key(inputs: &Inputs<'_>, opts: &BuildOptions) -> Result<String, BuildError> {
    let mode = opts.mode;
    let env = Environment::new(inputs.source_date_epoch)?;
    let home = tempfile::tempdir().map_err(io(Path::new("/tmp"), "create a temp folder"))?;
    let tools = toolchain(&env, home.path());
    Ok(key_of(
        &pins_for(inputs, mode)?,
        &env,
        &tools,
        mode,
        &inputs.package.name,
        &opts.complete.identity(),
    ))
}

/// Everything but the final rename, inside `work` (which holds `logs/`); leaves `work/out`.
fn build_in(inputs: &Inputs<'_>, opts: &BuildOptions, work: &Path) -> Result<Manifest, BuildError> {
    let logs = work.join("logs");
    let env = Environment::new(inputs.source_date_epoch)?;
    let home = work.join("home");
    std::fs::create_dir_all(&home).map_err(io(&home, "create"))?;
    let tools = toolchain(&env, &home);
    let pins = pins_for(inputs, opts.mode)?;
    let key = key_of(
        &pins,
        &env,
        &tools,
        opts.mode,
        &inputs.package.name,
        &opts.complete.identity(),
    );
    let staged = work.join("out");

    if let Some(hit) = opts.cache.as_ref().map(|c| c.join(&key)) {
        if hit.join("manifest.json").is_file() && cache_hit(&hit, &staged, &key)? {
            tracing::info!("build found in the cache: {}", hit.display());
            // The output's logs are those of the build that made these bytes, and say so.
            let cached_logs = staged.join("logs");
            if cached_logs.is_dir() {
                std::fs::remove_dir_all(&logs).map_err(io(&logs, "replace"))?;
                std::fs::rename(&cached_logs, &logs).map_err(io(&cached_logs, "move"))?;
            }
            let note = logs.join("from-cache.txt");
            std::fs::write(
                &note,
                format!("copied from the build cache: {}\n", hit.display()),
            )
            .map_err(io(&note, "write"))?;
            return read_manifest(&staged);
        }
    }

    if opts.mode == Mode::Vm {
        let ctx = vm::Context {
            env,
            tools,
            pins,
            key,
            home,
            logs,
            staged,
        };
        return vm::build_in(inputs, opts, work, ctx);
    }

    let total = inputs.data.patches.len() as u64;
    let steps = match opts.mode {
        Mode::Full => 4,
        Mode::Hypervisor | Mode::Vm => 2,
    };
    let progress = Progress::new(opts.progress, total + steps + 1);
    let mut seconds = std::collections::BTreeMap::new();

    // 1. The series and the config, as rpm's %prep does.
    let t = std::time::Instant::now();
    progress.step("patch");
    let patch_log = logs.join("patch.log");
    let mut applied = String::new();
    let prepared = prepare::prepare_observed(
        inputs.package,
        inputs.data,
        inputs.qubes_dir,
        inputs.upstream_dir,
        work,
        Headers::Skip,
        &|| env.command("patch", &home),
        &mut |_, p| {
            progress.line(&p.file);
            progress.done();
            applied.push_str(&format!("{:04} {}\n", p.number, p.file));
        },
    );
    let _ = std::fs::write(&patch_log, &applied);
    let tree = prepared?;
    progress.done();
    seconds.insert("patch".into(), t.elapsed().as_secs_f64());

    // 2. xen-config completes Qubes' config for this tree (what `make` would otherwise do).
    progress.step("olddefconfig");
    let t = std::time::Instant::now();
    let dot = tree.join("xen/.config");
    let olddef_log = logs.join("olddefconfig.log");
    let olddef = opts
        .complete
        .olddefconfig(&tree.join("xen"), &dot, &env)
        .map_err(|detail| {
            let _ = std::fs::write(&olddef_log, &detail);
            BuildError::Step {
                step: "olddefconfig",
                log: olddef_log.clone(),
                detail,
            }
        })?;
    std::fs::write(&dot, &olddef).map_err(io(&dot, "install the completed config"))?;
    // Qubes' options the toolchain could not keep: fail unless the definition allows them.
    let qubes_config = inputs.qubes_dir.join(&inputs.data.config.file);
    let qubes = std::fs::read(&qubes_config).map_err(io(&qubes_config, "read"))?;
    let dropped = config_check::dropped_options(&qubes, &olddef);
    let _ = std::fs::write(
        &olddef_log,
        format!(
            "{:?}: {} bytes\ndropped (allowed by the definition): {}\n",
            opts.complete,
            olddef.len(),
            config_check::describe(&dropped)
        ),
    );
    let refused = config_check::unallowed(&dropped, &inputs.xen.allow_dropped_options);
    if !refused.is_empty() {
        return Err(BuildError::DroppedOptions {
            options: config_check::describe(&refused),
            log: olddef_log,
            definition: inputs.package.path.clone(),
        });
    }
    seconds.insert("olddefconfig".into(), t.elapsed().as_secs_f64());
    progress.done();

    // 3. The hypervisor. Qubes' spec creates the EFI folder the install step copies into.
    let ctx = StepCtx {
        dir: &tree,
        logs: &logs,
        limits: opts.limits,
        progress: &progress,
    };
    let efi = tree.join("dist/install/boot/efi/efi").join(EFI_VENDOR);
    std::fs::create_dir_all(&efi).map_err(io(&efi, "create"))?;
    let mut c = env.command("make", &home);
    // Debug info (and so the build-id note inside xen.gz) would carry the build folder.
    let abs = tree.canonicalize().map_err(io(&tree, "resolve"))?;
    c.arg(format!("-j{}", opts.jobs))
        .arg("xen")
        .arg(format!("EFI_VENDOR={EFI_VENDOR}"))
        .arg(format!("PYTHON={PYTHON}"))
        .arg(format!(
            "EXTRA_CFLAGS_XEN_CORE=-ffile-prefix-map={}=.",
            abs.display()
        ));
    step(&ctx, "xen", c, &mut seconds)?;

    // 4. The tools, configured with the definition's flags.
    if opts.mode == Mode::Full {
        let mut c = env.command("./configure", &home);
        // Installed under /usr as Qubes' spec does (--prefix=/usr), then the definition's flags.
        c.arg("--prefix=/usr")
            .args(&inputs.xen.configure_flags)
            .arg(format!("PYTHON={PYTHON}"));
        step(&ctx, "configure", c, &mut seconds)?;
        let mut c = env.command("make", &home);
        c.arg(format!("-j{}", opts.jobs))
            .arg("dist-tools")
            .arg(format!("PYTHON={PYTHON}"));
        step(&ctx, "tools", c, &mut seconds)?;
    }

    // 5. The output folder.
    progress.step("collect");
    let t = std::time::Instant::now();
    std::fs::create_dir_all(&staged).map_err(io(&staged, "create"))?;
    let xen_log = logs.join("xen.log");
    let need = |p: PathBuf| -> Result<PathBuf, BuildError> {
        if p.exists() {
            Ok(p)
        } else {
            Err(BuildError::Missing {
                missing: p,
                log: xen_log.clone(),
            })
        }
    };
    let mut outputs = std::collections::BTreeMap::new();
    let gz = need(tree.join("xen/xen.gz"))?;
    copy_file(&gz, &staged.join("xen.gz"))?;
    copy_file(&dot, &staged.join("config"))?;
    let final_config = std::fs::read(&dot).map_err(io(&dot, "read"))?;
    // `make` reruns Kconfig with the real compiler: what it kept is checked the same way.
    let refused = config_check::unallowed(
        &config_check::dropped_options(&qubes, &final_config),
        &inputs.xen.allow_dropped_options,
    );
    if !refused.is_empty() {
        return Err(BuildError::DroppedOptions {
            options: config_check::describe(&refused),
            log: xen_log.clone(),
            definition: inputs.package.path.clone(),
        });
    }
    for f in ["xen.gz", "config"] {
        outputs.insert(f.to_string(), sha256_file(&staged.join(f))?);
    }
    let efi_file = tree.join("xen/xen.efi");
    if efi_file.exists() {
        copy_file(&efi_file, &staged.join("xen.efi"))?;
        outputs.insert("xen.efi".into(), sha256_file(&staged.join("xen.efi"))?);
    }
    if opts.mode == Mode::Full {
        let dist = tree.join("dist/install");
        let install = staged.join("install");
        std::fs::rename(&dist, &install).map_err(io(&dist, "move the installed tree"))?;
        outputs.insert("install".into(), nar_of(&install)?);
        // The built tree, for xen-sys (XEN_SYS_SOURCE): headers of the patched tree and the
        // libraries of its tools build. Links into it are made relative so it can move.
        relative_links(&tree)?;
        std::fs::rename(&tree, staged.join("tree")).map_err(io(&tree, "move the built tree"))?;
    }
    seconds.insert("collect".into(), t.elapsed().as_secs_f64());
    progress.done();
    progress.bar.finish_and_clear();

    let manifest = Manifest {
        recipe: RECIPE_VERSION,
        package: inputs.package.name.clone(),
        version: inputs.package.version.to_string(),
        mode: opts.mode,
        inputs: pins,
        environment: env,
        toolchain: tools,
        key: key.clone(),
        outputs,
        config_matches_olddefconfig: olddef == final_config,
        prefix: None,
        libraries: Vec::new(),
        seconds,
    };
    finish(&staged, manifest, opts)
}

/// Writes the manifest into the staged output and stores the output in the cache.
fn finish(staged: &Path, manifest: Manifest, opts: &BuildOptions) -> Result<Manifest, BuildError> {
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    let mpath = staged.join("manifest.json");
    std::fs::write(&mpath, text).map_err(io(&mpath, "write"))?;
    if let Some(cache) = &opts.cache {
        store_in_cache(staged, cache, &manifest.key);
    }
    Ok(manifest)
}

/// Reads an output folder's manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, BuildError> {
    let p = dir.join("manifest.json");
    let text = std::fs::read_to_string(&p).map_err(io(&p, "read"))?;
    serde_json::from_str(&text).map_err(|e| BuildError::Io {
        path: p,
        what: "parse",
        source: std::io::Error::other(e),
    })
}

/// Copies the cache entry `hit` to `staged` and checks the copy (what will be used) against
/// its manifest: the key, every output's sha256 and the installed tree's NAR. A mismatch is a
/// warning; the entry is dropped and `false` says to build again.
fn cache_hit(hit: &Path, staged: &Path, key: &str) -> Result<bool, BuildError> {
    copy_tree(hit, staged)?;
    let problem = match read_manifest(staged) {
        Err(e) => Some(e.to_string()),
        Ok(m) if m.key != key => Some(format!("its manifest's key is {}", m.key)),
        // Files first, the installed tree's NAR last: the warning names the file that changed.
        Ok(m) => m
            .outputs
            .iter()
            .filter(|(f, _)| *f != "install")
            .chain(m.outputs.iter().filter(|(f, _)| *f == "install"))
            .find_map(|(file, pinned)| {
                let path = staged.join(file);
                let found = if file == "install" {
                    nar_of(&path)
                } else {
                    sha256_file(&path)
                };
                match found {
                    Ok(f) if &f == pinned => None,
                    Ok(f) => Some(format!(
                        "{file} hashes to {f}, but its manifest records {pinned}"
                    )),
                    Err(e) => Some(e.to_string()),
                }
            }),
    };
    let Some(problem) = problem else {
        return Ok(true);
    };
    tracing::warn!(
        "build cache entry {} is corrupt ({problem}); dropping it and building again",
        hit.display()
    );
    std::fs::remove_dir_all(staged).map_err(io(staged, "remove"))?;
    // Renamed away first, so a concurrent build never copies a half-removed entry.
    let dropped = hit.with_file_name(format!(
        ".{}.dropped-{}",
        hit.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    if std::fs::rename(hit, &dropped).is_ok() {
        let _ = std::fs::remove_dir_all(&dropped);
    }
    Ok(false)
}

/// Copies a finished output into the cache (temp + rename); a cache that cannot be written
/// only costs a warning.
fn store_in_cache(staged: &Path, cache: &Path, key: &str) {
    let dest = cache.join(key);
    if dest.exists() {
        return;
    }
    let tmp = cache.join(format!(".{key}.tmp-{}", std::process::id()));
    let r = std::fs::create_dir_all(cache)
        .map_err(io(cache, "create"))
        .and_then(|_| copy_tree(staged, &tmp))
        // The logs (beside the staged output until it is installed) go with it.
        .and_then(|_| match staged.parent().map(|w| w.join("logs")) {
            Some(logs) if logs.is_dir() => copy_tree(&logs, &tmp.join("logs")),
            _ => Ok(()),
        })
        .and_then(|_| std::fs::rename(&tmp, &dest).map_err(io(&dest, "move into the cache")));
    if let Err(e) = r {
        let _ = std::fs::remove_dir_all(&tmp);
        tracing::warn!("build not cached: {e}");
    }
}

fn sha256_file(p: &Path) -> Result<String, BuildError> {
    Ok(content_hash::hash_file(p)
        .map_err(io(p, "hash"))?
        .0
        .to_hex())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), BuildError> {
    std::fs::copy(from, to)
        .map_err(io(from, "copy"))
        .map(|_| ())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    crate::fsutil::copy_tree(from, to).map_err(path_error)
}

fn path_error(e: crate::fsutil::PathError) -> BuildError {
    BuildError::Io {
        path: e.path,
        what: e.what,
        source: e.source,
    }
}

/// Rewrites symlinks under `dir` that point into `root` by absolute path (Xen's
/// `tools/include` makes such links) as relative ones.
fn relative_links(tree: &Path) -> Result<(), BuildError> {
    // make writes the links with its canonical working directory: walk and compare with that,
    // whatever relative or symlinked path the caller named the tree by.
    let root = tree.canonicalize().map_err(io(tree, "resolve"))?;
    for e in crate::fsutil::walk(&root) {
        let e = e.map_err(path_error)?;
        if !e.file_type().is_symlink() {
            continue;
        }
        let p = e.path();
        let target = std::fs::read_link(p).map_err(io(p, "read link"))?;
        if let Ok(inside) = target.strip_prefix(&root) {
            let depth = e.depth() - 1;
            let mut rel = PathBuf::new();
            for _ in 0..depth {
                rel.push("..");
            }
            rel.push(inside);
            std::fs::remove_file(p).map_err(io(p, "replace link"))?;
            std::os::unix::fs::symlink(&rel, p).map_err(io(p, "create link"))?;
        }
    }
    Ok(())
}

/// Fetches and verifies xen package `name` (as `prepare` does), then [`build`]s it into `out`.
pub fn fetch_and_build(
    defs: &crate::Definitions,
    name: &str,
    sources: &dyn crate::sources::fetch::Sources,
    work: &Path,
    opts: &BuildOptions,
    out: &Path,
) -> anyhow::Result<Manifest> {
    // Refused before any fetch.
    if out.exists() && !opts.replace {
        return Err(BuildError::Exists { path: out.into() }.into());
    }
    let v = crate::sources::verify::fetch_verified(defs, name, sources, work)?;
    let s = &v.data.source;
    let epoch = sources.source_date(&s.repo, s.tag.as_deref(), &s.commit)?;
    let inputs = Inputs {
        package: v.package,
        xen: v.xen,
        data_package: v.data_package,
        data: v.data,
        qubes_dir: &v.qubes_dir,
        upstream_dir: &v.upstream_dir,
        source_date_epoch: epoch,
    };
    Ok(build(&inputs, opts, out)?)
}

/// The `xen-config` program: `$QXK_XEN_CONFIG`, else beside this program (a cargo build puts
/// every binary of the workspace in one folder), else on PATH.
pub fn find_xen_config() -> PathBuf {
    if let Some(p) = std::env::var_os("QXK_XEN_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("xen-config")))
        .filter(|p| p.is_file())
    {
        return beside;
    }
    PathBuf::from("xen-config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_date_is_the_epoch_in_utc_as_date_prints_it() {
        // `LC_ALL=C date -u -d @1781006553` (the v4.17.6-6 tag).
        let e = Environment::new(1781006553).unwrap();
        assert_eq!(e.xen_build_date, "Tue Jun  9 12:02:33 UTC 2026");
        assert_eq!(e.xen_build_time, "12:02:33");
    }

    #[test]
    fn absolute_links_into_the_tree_become_relative() {
        // Named by a relative path (as `-o out/...` gives), the links absolute as make writes them.
        let d = tempfile::tempdir_in(".").unwrap();
        let abs = d.path().canonicalize().unwrap().join("tree");
        let root = Path::new(d.path().file_name().unwrap()).join("tree");
        std::fs::create_dir_all(root.join("tools/include/xen")).unwrap();
        std::fs::create_dir_all(root.join("xen/include/public")).unwrap();
        std::fs::write(root.join("xen/include/public/xen.h"), "x").unwrap();
        let link = root.join("tools/include/xen/xen.h");
        std::os::unix::fs::symlink(abs.join("xen/include/public/xen.h"), &link).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("outside")).unwrap();
        relative_links(&root).unwrap();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../../xen/include/public/xen.h")
        );
        assert_eq!(
            std::fs::read_link(root.join("outside")).unwrap(),
            Path::new("/etc/hostname")
        );
        std::fs::rename(&root, d.path().join("moved")).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("moved/tools/include/xen/xen.h")).unwrap(),
            "x"
        );
    }
}
