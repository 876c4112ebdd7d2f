//! The guest side of Qubes' components, built from their verified trees against the vm build
//! of their `xen` (its libraries under `/opt/qubes-xen/<version>-<rel>`), into that same prefix
//! so `bundle` can add them beside Xen's libraries.
//!
//! Each component is built as Qubes' rpm spec builds it (its own Makefiles, `make` targets and
//! install variables), in order — vchan-xen, then QubesDB, then qrexec's library and VM
//! programs — each installed into a private sysroot the next one builds against
//! (`PKG_CONFIG_SYSROOT_DIR`), and into the output. Same rules as the Xen build: the cleared
//! environment, `SOURCE_DATE_EPOCH` from the newest signed tag of the chain, a log per step,
//! the output built aside and renamed into place, a manifest, and every ELF file checked by
//! `readelf` for `RUNPATH [$ORIGIN/../lib]` and `NODEFLIB`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::vm::{check_runpaths, regular_files};
use super::{
    copy_tree, io, nar_of, sha256_file, step, toolchain, BuildError, BuildOptions, Environment,
    Progress, StepCtx,
};
use crate::component::Component;

/// Changes whenever the steps below change (part of what the manifest records).
pub const GUEST_RECIPE_VERSION: u32 = 1;

/// The components the guest build makes, in build order (`component` repository names).
pub const GUEST_CHAIN: &[&str] = &[
    "qubes-core-vchan-xen",
    "qubes-core-qubesdb",
    "qubes-core-qrexec",
];

/// The gcc spec file (in the work folder) that adds `-z nodefaultlib` to shared links only.
const SPECS: &str = "qxk-nodefaultlib.specs";
const SPECS_TEXT: &str = "*link:\n+ %{shared:-z nodefaultlib}\n\n";

/// A verified component tree.
pub struct GuestSource<'a> {
    pub component: &'a Component,
    pub tree: PathBuf,
    /// Its signed tag's date.
    pub tag_epoch: i64,
}

/// Which side of Qubes the components are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The VM's programs (qrexec-agent & co) against the vm build, under its prefix.
    #[default]
    Guest,
    /// dom0's (qrexec-daemon, qrexec-client, qubesdb-daemon for a domain) against the full
    /// build, under `/usr` as the full build's tools are.
    Dom0,
}

/// One component as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GuestPin {
    pub name: String,
    pub tag: String,
    pub commit: String,
    pub nar_sha256: String,
}

/// `manifest.json` of a guest build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GuestManifest {
    pub recipe: u32,
    #[serde(default)]
    pub side: Side,
    pub prefix: String,
    /// The vm build of Xen it was built against (its cache key).
    pub xen_vm_build: String,
    pub components: Vec<GuestPin>,
    pub environment: Environment,
    pub toolchain: BTreeMap<String, String>,
    /// `install/...` file -> sha256, and `install` -> NAR sha256 of the installed tree.
    pub outputs: BTreeMap<String, String>,
    pub seconds: BTreeMap<String, f64>,
}

/// One `make` in `dir` with the guest environment.
struct Make<'a> {
    env: &'a Environment,
    home: &'a Path,
    sysroot: &'a Path,
    prefix: &'a str,
    work: &'a Path,
    jobs: usize,
}

impl Make<'_> {
    fn cmd(&self, args: &[String]) -> qxk_process::Cmd {
        let sysroot = self.sysroot.display();
        let p = self.prefix;
        let mut c = self.env.command("make", self.home);
        // `%set_build_flags` exports CFLAGS/LDFLAGS; the Makefiles append to them. The
        // file-prefix map keeps the work folder out of the debug info (two builds in two
        // folders give the same bytes); `\$$ORIGIN` is `$ORIGIN` after make and the shell.
        c.env(
            "CFLAGS",
            format!("-O2 -ffile-prefix-map={}=/build", self.work.display()),
        )
        .env(
            "LDFLAGS",
            // `-z nodefaultlib` only where gcc links with `-shared` (a spec file says so): a
            // program with it would not find the system's libc.
            format!(
                "-specs={} -Wl,-rpath-link,{sysroot}{p}/lib -Wl,-rpath,\\$$ORIGIN/../lib",
                self.work.join(SPECS).display()
            ),
        )
        .env("PKG_CONFIG_SYSROOT_DIR", self.sysroot)
        .env("PKG_CONFIG_LIBDIR", format!("{sysroot}{p}/lib/pkgconfig"))
        .arg(format!("-j{}", self.jobs))
        .args(args);
        c
    }
}

fn install_file(from: &Path, to: &Path, exec: bool) -> Result<(), BuildError> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(io(d, "create"))?;
    }
    std::fs::copy(from, to).map_err(io(from, "install"))?;
    let mode = if exec { 0o755 } else { 0o644 };
    std::fs::set_permissions(
        to,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(mode),
    )
    .map_err(io(to, "chmod"))
}

/// Builds the guest side of `sources` (in [`GUEST_CHAIN`] order) against the vm build in
/// `xen_vm` into `out`.
pub fn build_guest(
    sources: &[GuestSource<'_>],
    xen_vm: &Path,
    opts: &BuildOptions,
    out: &Path,
) -> Result<GuestManifest, BuildError> {
    build_side(Side::Guest, sources, xen_vm, opts, out)
}

/// Builds `side` of `sources` (in [`GUEST_CHAIN`] order) against the Xen build in `xen_vm`
/// (the vm build for the guest side, the full build for dom0's) into `out`.
pub fn build_side(
    side: Side,
    sources: &[GuestSource<'_>],
    xen_vm: &Path,
    opts: &BuildOptions,
    out: &Path,
) -> Result<GuestManifest, BuildError> {
    if out.exists() && !opts.replace {
        return Err(BuildError::Exists { path: out.into() });
    }
    let xm = super::read_manifest(xen_vm)?;
    let prefix = match (side, &xm.mode, &xm.prefix) {
        (Side::Guest, super::Mode::Vm, Some(p)) => p.clone(),
        (Side::Dom0, super::Mode::Full, _) => "/usr".to_string(),
        _ => {
            return Err(BuildError::Unexpected {
                path: xen_vm.join("manifest.json"),
                found: format!("a {:?} build", xm.mode).to_lowercase(),
                expected: match side {
                    Side::Guest => "a vm build (`package-defs build XEN --mode vm`)",
                    Side::Dom0 => "a full build (`package-defs build XEN`)",
                }
                .into(),
            })
        }
    };
    for (want, s) in GUEST_CHAIN.iter().zip(sources) {
        if s.component.component.repo_name != *want {
            return Err(BuildError::Unexpected {
                path: s.component.path.clone(),
                found: s.component.component.repo_name.into(),
                expected: format!(
                    "{want} (the guest build's order: {})",
                    GUEST_CHAIN.join(", ")
                ),
            });
        }
    }
    let epoch = sources.iter().map(|s| s.tag_epoch).max().unwrap_or(0);
    let env = Environment::new(epoch)?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent, "create"))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "guest".into());
    let staged = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staged);
    let work = tempfile::Builder::new()
        .prefix(".qxk-guest-")
        .tempdir_in(parent)
        .map_err(io(parent, "create a work folder"))?;
    let work = std::path::absolute(work.path()).map_err(io(work.path(), "resolve"))?;
    let logs = staged.join("logs");
    std::fs::create_dir_all(&logs).map_err(io(&logs, "create"))?;
    let r = build_in(
        side, sources, xen_vm, &xm.key, &prefix, &env, opts, &work, &staged,
    );
    let _ = std::fs::remove_dir_all(&work);
    match r {
        Ok(m) => {
            if out.exists() {
                std::fs::remove_dir_all(out).map_err(io(out, "replace"))?;
            }
            std::fs::rename(&staged, out).map_err(io(out, "move into place"))?;
            Ok(m)
        }
        Err(e) => {
            let failed = parent.join(format!("{name}.failed-logs"));
            let _ = std::fs::remove_dir_all(&failed);
            let _ = std::fs::rename(&logs, &failed);
            let _ = std::fs::remove_dir_all(&staged);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    side: Side,
    sources: &[GuestSource<'_>],
    xen_vm: &Path,
    xen_key: &str,
    prefix: &str,
    env: &Environment,
    opts: &BuildOptions,
    work: &Path,
    staged: &Path,
) -> Result<GuestManifest, BuildError> {
    let home = work.join("home");
    std::fs::create_dir_all(&home).map_err(io(&home, "create"))?;
    let specs = work.join(SPECS);
    std::fs::write(&specs, SPECS_TEXT).map_err(io(&specs, "write"))?;
    let logs = staged.join("logs");
    let progress = Progress::new(opts.progress, 7);
    let mut seconds = BTreeMap::new();
    // The sysroot: Xen's guest libraries, then each component as it is installed.
    let sysroot = work.join("sysroot");
    match side {
        Side::Guest => copy_tree(&xen_vm.join("install"), &sysroot)?,
        // The full build's libraries and headers (not its 500 MB of other tools).
        Side::Dom0 => {
            for d in ["usr/lib", "usr/include"] {
                copy_tree(&xen_vm.join("install").join(d), &sysroot.join(d))?;
            }
        }
    }
    let dest = work.join("dest");
    std::fs::create_dir_all(&dest).map_err(io(&dest, "create"))?;
    let p = prefix;
    let dirs = |root: &Path| {
        vec![
            format!("DESTDIR={}", root.display()),
            format!("PREFIX={p}"),
            format!("LIBDIR={p}/lib"),
            format!("INCLUDEDIR={p}/include"),
            format!("BINDIR={p}/bin"),
        ]
    };
    let tree_of = |i: usize| -> Result<PathBuf, BuildError> {
        let s = &sources[i];
        let t = work.join(s.component.component.repo_name);
        copy_tree(&s.tree, &t)?;
        Ok(t)
    };
    let mk = Make {
        env,
        home: &home,
        sysroot: &sysroot,
        prefix: p,
        work,
        jobs: opts.jobs,
    };
    let args = |v: &[&str], extra: Vec<String>| -> Vec<String> {
        v.iter().map(|s| s.to_string()).chain(extra).collect()
    };

    // 1. vchan-xen (rpm spec: `make all` with LIBDIR/INCLUDEDIR, `make install`).
    let t = tree_of(0)?;
    let ctx = StepCtx {
        dir: &t,
        logs: &logs,
        limits: opts.limits,
        progress: &progress,
    };
    step(
        &ctx,
        "vchan-xen",
        mk.cmd(&args(&["all"], dirs(&sysroot)[1..].to_vec())),
        &mut seconds,
    )?;
    for root in [&sysroot, &dest] {
        step(
            &ctx,
            "vchan-xen-install",
            mk.cmd(&args(&["install"], dirs(root))),
            &mut seconds,
        )?;
    }

    // 2. QubesDB (spec: `make -C daemon`, `make -C client`, their installs and the headers'),
    //    without systemd's notify library: the bundle starts it itself.
    let t = tree_of(1)?;
    let ctx = StepCtx {
        dir: &t,
        logs: &logs,
        limits: opts.limits,
        progress: &progress,
    };
    let qdb = |extra: &[&str]| {
        args(
            &["SYSTEMD=0"],
            extra.iter().map(|s| s.to_string()).collect(),
        )
    };
    step(
        &ctx,
        "qubesdb-daemon",
        mk.cmd(&args(&["-C", "daemon"], qdb(&[]))),
        &mut seconds,
    )?;
    step(
        &ctx,
        "qubesdb-client",
        mk.cmd(&args(&["-C", "client"], qdb(&[]))),
        &mut seconds,
    )?;
    for root in [&sysroot, &dest] {
        let mut v = dirs(root);
        v.push("SYSTEMD=0".into());
        for sub in ["daemon", "client", "include"] {
            step(
                &ctx,
                "qubesdb-install",
                mk.cmd(&args(&["-C", sub, "install"], v.clone())),
                &mut seconds,
            )?;
        }
    }

    // 3. qrexec: libqrexec-utils and the VM programs (spec: `make -C libqrexec`,
    //    `make -C agent`), built without PAM whatever the build host has (the agent then
    //    switches user itself; the bundle has no PAM module to rely on).
    let t = tree_of(2)?;
    let ctx = StepCtx {
        dir: &t,
        logs: &logs,
        limits: opts.limits,
        progress: &progress,
    };
    step(
        &ctx,
        "libqrexec",
        mk.cmd(&args(&["-C", "libqrexec"], dirs(&sysroot)[1..].to_vec())),
        &mut seconds,
    )?;
    if side == Side::Dom0 {
        // dom0: qrexec-daemon and qrexec-client, installed by their own Makefile (the spec's
        // `/usr/sbin/qrexec-daemon`, `/usr/bin/qrexec-client`).
        step(
            &ctx,
            "qrexec-daemon",
            mk.cmd(&args(&["-C", "daemon"], vec![])),
            &mut seconds,
        )?;
        for root in [&sysroot, &dest] {
            step(
                &ctx,
                "libqrexec-install",
                mk.cmd(&args(&["-C", "libqrexec", "install"], dirs(root))),
                &mut seconds,
            )?;
        }
        step(
            &ctx,
            "qrexec-daemon-install",
            mk.cmd(&args(
                &["-C", "daemon", "install"],
                vec![format!("DESTDIR={}", dest.display())],
            )),
            &mut seconds,
        )?;
    }
    if side == Side::Guest {
        step(
            &ctx,
            "qrexec-agent",
            mk.cmd(&args(
                &[
                    "-C",
                    "agent",
                    "qrexec-agent",
                    "qrexec-client-vm",
                    "qrexec-fork-server",
                    "HAVE_PAM_APPL=",
                ],
                vec![],
            )),
            &mut seconds,
        )?;
        for root in [&sysroot, &dest] {
            step(
                &ctx,
                "libqrexec-install",
                mk.cmd(&args(&["-C", "libqrexec", "install"], dirs(root))),
                &mut seconds,
            )?;
            // The agent's own install also writes man pages (pandoc) and /etc/pam.d: the three
            // programs are installed as it installs them, under the prefix's bin/.
            for prog in ["qrexec-agent", "qrexec-client-vm", "qrexec-fork-server"] {
                install_file(
                    &t.join("agent").join(prog),
                    &root.join(p.trim_start_matches('/')).join("bin").join(prog),
                    true,
                )?;
            }
        }
    }

    // 4. Check and collect.
    progress.step("collect");
    let t0 = Instant::now();
    check_runpaths(&dest, env, &home)?;
    let install = staged.join("install");
    std::fs::rename(&dest, &install).map_err(io(&dest, "move the installed tree"))?;
    let mut outputs = BTreeMap::new();
    outputs.insert("install".to_string(), nar_of(&install)?);
    for f in regular_files(&install)? {
        let rel = f.strip_prefix(staged).unwrap_or(&f);
        outputs.insert(rel.to_string_lossy().into_owned(), sha256_file(&f)?);
    }
    seconds.insert("collect".into(), t0.elapsed().as_secs_f64());
    progress.done();
    progress.bar.finish_and_clear();
    let manifest = GuestManifest {
        recipe: GUEST_RECIPE_VERSION,
        side,
        prefix: prefix.into(),
        xen_vm_build: xen_key.into(),
        components: sources
            .iter()
            .map(|s| GuestPin {
                name: s.component.name.clone(),
                tag: s.component.source.tag.clone(),
                commit: s.component.source.commit.clone(),
                nar_sha256: s.component.source.nar_sha256.clone(),
            })
            .collect(),
        environment: env.clone(),
        toolchain: toolchain(env, &home),
        outputs,
        seconds,
    };
    let mpath = staged.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    std::fs::write(&mpath, text).map_err(io(&mpath, "write"))?;
    Ok(manifest)
}

/// Fetches and verifies the vm build of `xen` (from the build cache when it can) and the
/// guest chain's components that follow it (signed tag, component, version, branch, pinned
/// commit and NAR), then [`build_guest`]s them into `out`.
#[allow(clippy::too_many_arguments)]
pub fn fetch_and_build_guest(
    side: Side,
    definitions: &Path,
    defs: &crate::Definitions,
    components: &[Component],
    xen: &str,
    sources: &dyn crate::sources::fetch::Sources,
    work: &Path,
    opts: &BuildOptions,
    out: &Path,
) -> anyhow::Result<GuestManifest> {
    if out.exists() && !opts.replace {
        return Err(BuildError::Exists { path: out.into() }.into());
    }
    let mut chain = Vec::new();
    for want in GUEST_CHAIN {
        let c = components
            .iter()
            .find(|c| c.xen == xen && c.component.repo_name == *want)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no component {want} builds against `{xen}`; add definitions/components/{want}*.toml with xen = \"{xen}\"",
                    definitions.display()
                )
            })?;
        let tree = work.join(&c.name);
        let _ = std::fs::remove_dir_all(&tree);
        let commit =
            crate::component::fetch_checked(definitions, c, c.version, sources, &tree, false)?;
        anyhow::ensure!(
            commit == c.source.commit,
            "{}: tag {} is commit {commit}, but the definition pins {} (the tag moved?)",
            c.path.display(),
            c.source.tag,
            c.source.commit
        );
        let nar = nar_of(&tree)?;
        anyhow::ensure!(
            nar == c.source.nar_sha256,
            "{}: NAR sha256 of {} is {nar}, pinned {}",
            c.path.display(),
            c.source.tag,
            c.source.nar_sha256
        );
        let tag_epoch = sources.source_date(&c.source.repo, Some(&c.source.tag), &commit)?;
        chain.push(GuestSource {
            component: c,
            tree,
            tag_epoch,
        });
    }
    let vm_opts = BuildOptions {
        mode: match side {
            Side::Guest => super::Mode::Vm,
            Side::Dom0 => super::Mode::Full,
        },
        replace: true,
        ..opts.clone()
    };
    let xen_vm = work.join("xen-vm");
    super::fetch_and_build(defs, xen, sources, &work.join("xen-src"), &vm_opts, &xen_vm)?;
    Ok(build_side(side, &chain, &xen_vm, opts, out)?)
}
