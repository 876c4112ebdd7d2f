//! Qubes' real Xen for the cross-crate tests: the shipped `xen` definition, its trees fetched
//! and verified by `package-defs` from the real repositories of `../shared/fixtures/git`
//! served on loopback under their real URLs, and `package-defs`' build with xen-config's
//! library completing the config. Builds are cached by `package-defs` (key of every input)
//! so the build test, the bindings test and the end-to-end boot share one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use package_defs::build::{self, BuildOptions, CompleteConfig, Environment, Inputs, Mode};
use package_defs::sources::fetch::{GitSources, Sources};
use package_defs::{Definitions, Package};

/// xen-config's olddefconfig through its library, probing the host's compiler.
#[derive(Debug)]
pub struct XenConfigLibrary;

impl CompleteConfig for XenConfigLibrary {
    fn olddefconfig(
        &self,
        xen_dir: &Path,
        config: &Path,
        _env: &Environment,
    ) -> Result<Vec<u8>, String> {
        let bytes = std::fs::read(config).map_err(|e| format!("{}: {e}", config.display()))?;
        olddefconfig(xen_dir, &bytes)
    }

    fn identity(&self) -> String {
        // The library linked into this test binary: its version (the tests rebuild it with the
        // workspace, and a changed engine that completes differently fails xen_build's check).
        format!("xen-config library {}", env!("CARGO_PKG_VERSION"))
    }
}

/// xen-config's olddefconfig of `config` for the tree `xen_dir`.
pub fn olddefconfig(xen_dir: &Path, config: &[u8]) -> Result<Vec<u8>, String> {
    let (mut k, _) = xen_config::load_xen_tree_host(xen_dir, &xen_config::XenTarget::default())
        .map_err(|e| format!("xen-config cannot read {}: {e}", xen_dir.display()))?;
    let (text, _) = k.olddefconfig(xen_config::Input::Config(config), xen_dir);
    Ok(text.into_bytes())
}

/// The shipped definitions' `xen` package, fetched and verified by `package-defs` from the
/// real repositories served on loopback under their real URLs.
pub struct RealInputs {
    _dir: tempfile::TempDir,
    pub defs: Definitions,
    pub qubes_dir: PathBuf,
    pub upstream_dir: PathBuf,
    /// The signed Qubes tag's date.
    pub source_date_epoch: i64,
}

impl RealInputs {
    /// The `xen` package and its data package, as shipped.
    pub fn packages(&self) -> (Package, Package) {
        let xen = self.defs.get("xen").cloned().expect("verified");
        let data_name = xen.as_xen().expect("xen").data.clone();
        let data = self.defs.get(&data_name).cloned().expect("verified");
        (xen, data)
    }

    /// The Qubes tag of the shipped data (`v4.17.6-6`).
    pub fn qubes_tag(&self) -> String {
        let (_, data) = self.packages();
        data.as_data()
            .and_then(|d| d.source.tag.clone())
            .unwrap_or_default()
    }
}

/// The real inputs, fetched and verified once per process (the full build, the vm build and
/// the e2e configuration all read the same trees); their folder is removed at exit.
pub fn real_inputs() -> Result<&'static RealInputs, String> {
    static ONCE: std::sync::OnceLock<Result<RealInputs, String>> = std::sync::OnceLock::new();
    extern "C" fn remove_at_exit() {
        if let Some(Ok(r)) = ONCE.get() {
            let _ = std::fs::remove_dir_all(r._dir.path());
        }
    }
    let r = ONCE.get_or_init(|| {
        let r = fetch_real_inputs();
        if r.is_ok() {
            // Statics are never dropped: without this the trees would stay in /tmp.
            // SAFETY: registers a plain `extern "C" fn` without captured state.
            unsafe { libc::atexit(remove_at_exit) };
        }
        r
    });
    r.as_ref().map_err(Clone::clone)
}

/// A copy of the real inputs of its own, for a test that changes them (a corrupted patch):
/// the shared ones of [`real_inputs`] must stay as verified for every other test.
pub fn real_inputs_to_change() -> Result<RealInputs, String> {
    fetch_real_inputs()
}

/// Serves the real repositories, loads the shipped definitions and fetches and verifies the
/// `xen` package's trees (signatures, commits, NAR pins) as `prepare` and `build` do.
fn fetch_real_inputs() -> Result<RealInputs, String> {
    let real = test_servers::RealRepos::serve().map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let defs = package_defs::load_dir(&crate::workspace_root().join("definitions"))
        .map_err(|e| e.to_string())?;
    let mut rewrites = source_fetch::UrlRewrites::new();
    for (from, to) in real.rewrites() {
        rewrites.push(from.clone(), to.clone());
    }
    let sources = GitSources::new(
        &dir.path().join("downloads"),
        rewrites,
        std::time::Duration::from_secs(300),
        true,
    )
    .map_err(|e| format!("{e:#}"))?;
    let work = dir.path().join("work");
    let v = package_defs::sources::verify::fetch_verified(&defs, "xen", &sources, &work)
        .map_err(|e| format!("{e:#}"))?;
    let s = &v.data.source;
    let source_date_epoch = sources
        .source_date(&s.repo, s.tag.as_deref(), &s.commit)
        .map_err(|e| format!("{e:#}"))?;
    let (qubes_dir, upstream_dir) = (v.qubes_dir.clone(), v.upstream_dir.clone());
    Ok(RealInputs {
        _dir: dir,
        defs,
        qubes_dir,
        upstream_dir,
        source_date_epoch,
    })
}

/// rpm's own series for `tag` (`rpmspec -P`'s `%autosetup` expansion, in the fixtures):
/// `NNNN file sha256` per patch, as the build manifest lists them.
pub fn rpm_series(tag: &str) -> Result<Vec<String>, String> {
    let p = test_servers::real::shared_dir()
        .join("fixtures/qubes-vmm-xen")
        .join(tag)
        .join("patches.tsv");
    let tsv = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(3).collect::<Vec<_>>().join(" "))
        .collect())
}

/// Build options for tests: xen-config's library, the default cache, quiet.
pub fn options(mode: Mode) -> BuildOptions {
    BuildOptions {
        mode,
        complete: Arc::new(XenConfigLibrary),
        ..Default::default()
    }
}

/// The build inputs of `xen` and `data` (packages of `r`, possibly altered by a test).
pub fn inputs<'a>(r: &'a RealInputs, xen: &'a Package, data: &'a Package) -> Inputs<'a> {
    Inputs {
        package: xen,
        xen: xen.as_xen().expect("xen package"),
        data_package: data,
        data: data.as_data().expect("data package"),
        qubes_dir: &r.qubes_dir,
        upstream_dir: &r.upstream_dir,
        source_date_epoch: r.source_date_epoch,
    }
}

/// Builds (or takes from the cache) the shipped `xen` into `out`.
pub fn build_into(
    r: &RealInputs,
    opts: &BuildOptions,
    out: &Path,
) -> Result<build::Manifest, String> {
    let (xen, data) = r.packages();
    build::build(&inputs(r, &xen, &data), opts, out).map_err(|e| e.to_string())
}

/// The full build of the shipped `xen` shared by the tests (and test processes): kept in
/// `target/qxk-cache/qubes-xen/<package>-<version>` and rebuilt (or copied from the build
/// cache) only when its manifest's key is not the key of today's inputs and toolchain.
pub fn shared_full_build() -> Result<(PathBuf, build::Manifest), String> {
    static ONCE: std::sync::OnceLock<Result<(PathBuf, build::Manifest), String>> =
        std::sync::OnceLock::new();
    ONCE.get_or_init(|| shared_build(Mode::Full, "")).clone()
}

/// The vm build (guest libraries) of the shipped `xen`, kept as [`shared_full_build`] keeps
/// the full one, in `…/<package>-<version>-vm`.
pub fn shared_vm_build() -> Result<(PathBuf, build::Manifest), String> {
    static ONCE: std::sync::OnceLock<Result<(PathBuf, build::Manifest), String>> =
        std::sync::OnceLock::new();
    ONCE.get_or_init(|| shared_build(Mode::Vm, "-vm")).clone()
}

fn shared_build(mode: Mode, suffix: &str) -> Result<(PathBuf, build::Manifest), String> {
    let r = real_inputs()?;
    let (xen, data) = r.packages();
    let out = crate::workspace_root()
        .join("target/qxk-cache/qubes-xen")
        .join(format!("{}-{}{suffix}", xen.name, xen.version));
    let i = inputs(r, &xen, &data);
    let mut opts = options(mode);
    opts.replace = true;
    let key = build::key(&i, &opts).map_err(|e| e.to_string())?;
    if let Ok(m) = build::read_manifest(&out) {
        if m.key == key {
            return Ok((out, m));
        }
    }
    let m = build::build(&i, &opts, &out).map_err(|e| e.to_string())?;
    Ok((out, m))
}

/// The guest bundle of the shipped `xen` (`package-defs bundle`'s library call on
/// [`shared_vm_build`]) with `xs` stripped of debug info, written into `dir`.
pub fn guest_bundle(xs: &Path, dir: &Path) -> Result<crate::e2e::GuestBundle, String> {
    let (build_dir, _) = shared_vm_build()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stripped = dir.join("xs");
    let status = std::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(xs)
        .status()
        .map_err(|e| format!("strip: {e}"))?;
    if !status.success() {
        return Err(format!(
            "strip --strip-debug {} failed: {status}",
            xs.display()
        ));
    }
    let tarball = dir.join("qubes-xen-guest.tar.gz");
    let report = package_defs::bundle::write(&build_dir, &stripped, &tarball, true)
        .map_err(|e| e.to_string())?;
    Ok(crate::e2e::GuestBundle {
        tarball,
        version: report.version,
        xs: stripped,
    })
}
