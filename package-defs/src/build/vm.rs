//! vm mode: Xen's guest libraries as Qubes builds them for VMs, for a self-contained bundle.
//!
//! The upstream tree gets the VM series of Qubes' Arch recipe (read from the pinned data tree,
//! applied with the recipe's own `patch` options), `./configure` runs with a private prefix
//! `/opt/qubes-xen/<version>-<rel>`, the definition's flags and the recipe's, and only
//! libxenvchan's closure (from the tree's `tools/libs/uselibs.mk`) is built and installed with
//! `DESTDIR`. Every library links with `-Wl,-rpath,'$ORIGIN/../lib'`, so the bundle's
//! libraries load each other and never the distribution's libxen; `readelf -d` checks it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    copy_tree, finish, input_pins, io, nar_of, sha256_file, step, BuildError, BuildOptions,
    Environment, InputPins, Inputs, Manifest, Mode, Progress, StepCtx, PYTHON, RECIPE_VERSION,
};
use crate::defs::model::Package;
use crate::defs::vm_series::{self, VmSeries};

/// Where bundles live: one folder per `<version>-<rel>` and a `current` link.
pub const PREFIX_ROOT: &str = "/opt/qubes-xen";
/// The RUNPATH of every ELF file of the bundle.
pub const RUNPATH: &str = "$ORIGIN/../lib";
/// The version of vm mode's own steps, part of its cache key: 2 installs Xen's public headers
/// (`make -C tools/include install`), which the libraries' headers include.
/// 3 adds libxenctrl's closure (for libvchan-xen).
pub const VM_RECIPE_VERSION: u32 = 3;
/// The library whose closure the vm build makes (a `tools/libs` folder name).
pub const VM_ROOT_LIBRARY: &str = "vchan";
/// Every library whose closure the vm build makes: libxenvchan, and libxenctrl, which Qubes'
/// libvchan-xen links (`xc_interface_open`, in qubes-core-vchan-xen's vchan/init.c).
pub const VM_ROOT_LIBRARIES: &[&str] = &[VM_ROOT_LIBRARY, "ctrl"];

/// The private prefix of a package's guest libraries.
pub fn vm_prefix(pkg: &Package) -> String {
    format!("{PREFIX_ROOT}/{}", pkg.version)
}

/// What the common part of the build computed before branching to vm mode.
pub(super) struct Context {
    pub env: Environment,
    pub tools: BTreeMap<String, String>,
    pub pins: InputPins,
    pub key: String,
    pub home: PathBuf,
    pub logs: PathBuf,
    pub staged: PathBuf,
}

/// The pins of a vm build: the VM series (with each patch's sha256) and the configure flags
/// in place of the spec's series and flags.
pub(super) fn pins(i: &Inputs<'_>) -> Result<InputPins, BuildError> {
    let series = vm_series::read_tree(i.qubes_dir)?;
    let mut p = input_pins(i);
    p.patches = series
        .patches
        .iter()
        .map(|v| {
            let sha = sha256_file(&i.qubes_dir.join(&v.file))?;
            let number: String = v.file.chars().take_while(char::is_ascii_digit).collect();
            Ok(format!("{:0>4} {} {sha}", number, v.file))
        })
        .collect::<Result<_, BuildError>>()?;
    p.configure_flags = configure_flags(i, &series)?;
    p.vm_recipe = Some(format!(
        "{}: patch {}",
        series.recipe.display(),
        series.patch_args.join(" ")
    ));
    Ok(p)
}

/// `--prefix`/`--libdir` for the private prefix, the definition's flags, then the recipe's
/// (install paths dropped) that the definition does not already give.
fn configure_flags(i: &Inputs<'_>, series: &VmSeries) -> Result<Vec<String>, BuildError> {
    let prefix = vm_prefix(i.package);
    let mut flags = vec![
        format!("--prefix={prefix}"),
        format!("--libdir={prefix}/lib"),
    ];
    flags.extend(i.xen.configure_flags.iter().cloned());
    for f in vm_series::recipe_configure_flags(i.qubes_dir, series)? {
        if !flags.contains(&f) {
            flags.push(f);
        }
    }
    Ok(flags)
}

/// The libraries `root` needs, itself last, dependencies first, from `uselibs.mk`'s
/// `USELIBS_<lib> := …` lines.
pub fn libs_closure(uselibs: &str, path: &Path, root: &str) -> Result<Vec<String>, BuildError> {
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in uselibs.lines() {
        let Some(rest) = l.trim().strip_prefix("USELIBS_") else {
            continue;
        };
        let Some((name, list)) = rest.split_once(":=") else {
            continue;
        };
        deps.insert(name.trim(), list.split_whitespace().collect());
    }
    let mut out = Vec::new();
    visit(root, &deps, path, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn visit(
    lib: &str,
    deps: &BTreeMap<&str, Vec<&str>>,
    path: &Path,
    stack: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), BuildError> {
    if out.iter().any(|l| l == lib) {
        return Ok(());
    }
    if stack.iter().any(|l| l == lib) {
        return Err(BuildError::Unexpected {
            path: path.into(),
            found: format!("a dependency cycle {} -> {lib}", stack.join(" -> ")),
            expected: "libraries that do not depend on themselves".into(),
        });
    }
    let Some(needs) = deps.get(lib) else {
        return Err(BuildError::Unexpected {
            path: path.into(),
            found: format!("no `USELIBS_{lib} :=` line"),
            expected: format!(
                "one for every library the bundle's libxen{} need",
                VM_ROOT_LIBRARIES.join("/libxen")
            ),
        });
    };
    stack.push(lib.to_string());
    for d in needs {
        visit(d, deps, path, stack, out)?;
    }
    stack.pop();
    out.push(lib.to_string());
    Ok(())
}

/// The vm build inside `work`; leaves `ctx.staged` with `install/` and the manifest.
pub(super) fn build_in(
    inputs: &Inputs<'_>,
    opts: &BuildOptions,
    work: &Path,
    ctx: Context,
) -> Result<Manifest, BuildError> {
    let Context {
        env,
        tools,
        pins,
        key,
        home,
        logs,
        staged,
    } = ctx;
    let progress = Progress::new(opts.progress, 7);
    let mut seconds = BTreeMap::new();
    let prefix = vm_prefix(inputs.package);

    // 1. The VM series, as the recipe's prepare() applies it.
    let t = Instant::now();
    progress.step("patch");
    let series = vm_series::read_tree(inputs.qubes_dir)?;
    // Patches the spec also lists are pinned one by one: checked here as `prepare` does.
    for p in &series.patches {
        if let Some(pin) = inputs.data.patches.iter().find(|q| q.file == p.file) {
            let file = inputs.qubes_dir.join(&p.file);
            let found = sha256_file(&file)?;
            if found != pin.sha256 {
                return Err(BuildError::Prepare(
                    crate::sources::prepare::PrepareError::Hash {
                        path: file,
                        pinned: pin.sha256.clone(),
                        found,
                    },
                ));
            }
        }
    }
    let tree = work.join("tree");
    copy_tree(inputs.upstream_dir, &tree)?;
    let patch_log = logs.join("patch.log");
    let mut applied = String::new();
    for p in &series.patches {
        progress.line(&p.file);
        applied.push_str(&format!("{}\n", p.file));
        let file = inputs.qubes_dir.join(&p.file);
        let command = env.command("patch", &home);
        if let Err(e) =
            crate::sources::prepare::apply_patch(command, &tree, &file, &series.patch_args)
        {
            applied.push_str(&format!("{e}\n"));
            let _ = std::fs::write(&patch_log, &applied);
            return Err(BuildError::Step {
                step: "patch",
                log: patch_log,
                detail: format!(
                    "{} (listed at {}:{}) does not apply with `patch {}`: {e}",
                    p.file,
                    series.listed_in.display(),
                    p.line,
                    series.patch_args.join(" ")
                ),
            });
        }
    }
    std::fs::write(&patch_log, &applied).map_err(io(&patch_log, "write"))?;
    seconds.insert("patch".into(), t.elapsed().as_secs_f64());
    progress.done();

    // 2. The closure, from the patched tree's own list.
    let uselibs_path = tree.join("tools/libs/uselibs.mk");
    let uselibs = std::fs::read_to_string(&uselibs_path).map_err(io(&uselibs_path, "read"))?;
    let mut libraries: Vec<String> = Vec::new();
    for root in VM_ROOT_LIBRARIES {
        for l in libs_closure(&uselibs, &uselibs_path, root)? {
            if !libraries.contains(&l) {
                libraries.push(l);
            }
        }
    }

    // 3. configure, the headers the libraries include, the libraries, their install.
    let ctx = StepCtx {
        dir: &tree,
        logs: &logs,
        limits: opts.limits,
        progress: &progress,
    };
    let mut c = env.command("./configure", &home);
    c.args(&pins.configure_flags)
        .arg(format!("PYTHON={PYTHON}"));
    step(&ctx, "configure", c, &mut seconds)?;
    let mut c = env.command("make", &home);
    c.arg(format!("-j{}", opts.jobs))
        .args(["-C", "tools/include"])
        .arg(format!("PYTHON={PYTHON}"));
    step(&ctx, "include", c, &mut seconds)?;
    let dest = work.join("dest");
    let dest_abs = std::path::absolute(&dest).map_err(io(&dest, "resolve"))?;
    let libdir = dest.join(prefix.trim_start_matches('/')).join("lib");
    // Xen's install does not create the pkg-config folder, and would install a file by its name.
    let pcdir = libdir.join("pkgconfig");
    std::fs::create_dir_all(&pcdir).map_err(io(&pcdir, "create"))?;
    let make_libs = |target: &str| {
        let mut c = env.command("make", &home);
        c.arg(format!("-j{}", opts.jobs))
            .args(["-C", "tools/libs", target])
            .arg(format!("SUBDIRS-y={}", libraries.join(" ")))
            // `$$` for make, `\` for the shell make runs the link through. `nodefaultlib`:
            // a library missing from the bundle is a loader error, not the distribution's.
            .arg("APPEND_LDFLAGS=-Wl,-rpath,\\$$ORIGIN/../lib -Wl,-z,nodefaultlib")
            .arg(format!("DESTDIR={}", dest_abs.display()))
            .arg(format!("PYTHON={PYTHON}"));
        c
    };
    step(&ctx, "libs", make_libs("subdirs-all"), &mut seconds)?;
    step(&ctx, "install", make_libs("subdirs-install"), &mut seconds)?;
    // The public headers the libraries' headers include (`<xen/io/libxenvchan.h>`,
    // `<xen/sys/evtchn.h>`, ...): Xen's own install of them, as the recipe's `install-tools`.
    let mut c = env.command("make", &home);
    c.args(["-C", "tools/include", "install"])
        .arg(format!("DESTDIR={}", dest_abs.display()))
        .arg(format!("PYTHON={PYTHON}"));
    step(&ctx, "install-headers", c, &mut seconds)?;

    // 4. What the recipe drops (static libraries), pkg-config files that carry the rpath, and
    //    the RUNPATH of every ELF file checked.
    progress.step("collect");
    let t = Instant::now();
    let install_log = logs.join("install.log");
    let vchan = libdir.join(format!("libxen{VM_ROOT_LIBRARY}.so"));
    if !vchan.exists() {
        return Err(BuildError::Missing {
            missing: vchan,
            log: install_log,
        });
    }
    for e in std::fs::read_dir(&libdir).map_err(io(&libdir, "read"))? {
        let p = e.map_err(io(&libdir, "read"))?.path();
        if p.extension().is_some_and(|x| x == "a") {
            std::fs::remove_file(&p).map_err(io(&p, "remove"))?;
        }
    }
    fix_pc_files(&pcdir, &prefix)?;
    check_runpaths(&dest, &env, &home)?;

    let install = staged.join("install");
    std::fs::create_dir_all(&staged).map_err(io(&staged, "create"))?;
    std::fs::rename(&dest, &install).map_err(io(&dest, "move the installed tree"))?;
    let mut outputs = BTreeMap::new();
    outputs.insert("install".to_string(), nar_of(&install)?);
    for f in regular_files(&install)? {
        let rel = f.strip_prefix(&staged).unwrap_or(&f);
        outputs.insert(rel.to_string_lossy().into_owned(), sha256_file(&f)?);
    }
    seconds.insert("collect".into(), t.elapsed().as_secs_f64());
    progress.done();
    progress.bar.finish_and_clear();

    let manifest = Manifest {
        recipe: RECIPE_VERSION,
        package: inputs.package.name.clone(),
        version: inputs.package.version.to_string(),
        mode: Mode::Vm,
        inputs: pins,
        environment: env,
        toolchain: tools,
        key,
        outputs,
        config_matches_olddefconfig: false,
        prefix: Some(prefix),
        libraries,
        seconds,
    };
    finish(&staged, manifest, opts)
}

/// Makes the pkg-config files relative to their `prefix` (`libdir=${prefix}/lib`, so
/// `pkg-config --define-prefix` follows a bundle unpacked elsewhere) and adds the rpath of
/// their libdir to `Libs:`, so programs built with them load the bundle's libraries.
fn fix_pc_files(pcdir: &Path, prefix: &str) -> Result<(), BuildError> {
    const LIBS: &str = "Libs: -L${libdir}";
    let expected = [
        format!("libdir={prefix}/lib"),
        format!("includedir={prefix}/include"),
        LIBS.to_string(),
    ];
    let mut found = 0;
    for e in std::fs::read_dir(pcdir).map_err(io(pcdir, "read"))? {
        let p = e.map_err(io(pcdir, "read"))?.path();
        if p.extension().is_none_or(|x| x != "pc") {
            continue;
        }
        found += 1;
        let text = std::fs::read_to_string(&p).map_err(io(&p, "read"))?;
        for want in &expected {
            if !text.lines().any(|l| l.starts_with(want.as_str())) {
                return Err(BuildError::Unexpected {
                    path: p,
                    found: format!("no line starting `{want}`"),
                    expected: "the pkg-config file Xen's libs.mk writes for this prefix".into(),
                });
            }
        }
        let fixed: String = text
            .lines()
            .map(|l| {
                if let Some(rest) = l.strip_prefix(LIBS) {
                    format!("{LIBS} -Wl,-rpath,${{libdir}}{rest}\n")
                } else if let Some(rest) = l.strip_prefix(&format!("libdir={prefix}")) {
                    format!("libdir=${{prefix}}{rest}\n")
                } else if let Some(rest) = l.strip_prefix(&format!("includedir={prefix}")) {
                    format!("includedir=${{prefix}}{rest}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&p, fixed).map_err(io(&p, "write"))?;
    }
    if found == 0 {
        return Err(BuildError::Unexpected {
            path: pcdir.into(),
            found: "no .pc file".into(),
            expected: "one per library installed".into(),
        });
    }
    Ok(())
}

/// Regular files under `dir` (recursively, symlinks not followed), sorted.
pub(crate) fn regular_files(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut out = Vec::new();
    for e in crate::fsutil::walk(dir) {
        let e = e.map_err(super::path_error)?;
        if e.file_type().is_file() {
            out.push(e.into_path());
        }
    }
    Ok(out)
}

/// Every ELF file under `dir` has exactly `RUNPATH [$ORIGIN/../lib]` and no `RPATH`; shared
/// libraries have the `NODEFLIB` flag, programs do not.
pub(super) fn check_runpaths(dir: &Path, env: &Environment, home: &Path) -> Result<(), BuildError> {
    for f in regular_files(dir)? {
        let mut head = [0u8; 4];
        let is_elf = std::fs::File::open(&f)
            .and_then(|mut h| std::io::Read::read_exact(&mut h, &mut head))
            .is_ok()
            && head == *b"\x7fELF";
        if !is_elf {
            continue;
        }
        let mut c = env.command("readelf", home);
        c.args(["-d", "-l", "-W"]).arg(&f);
        let out = c
            .current_dir(home)
            .timeout(Duration::from_secs(60))
            .run()
            .map_err(|e| BuildError::Io {
                path: f.clone(),
                what: "readelf -d",
                source: std::io::Error::other(e),
            })?;
        let found = runpath_of(&out.stdout_lossy());
        if found.as_deref() != Some(&format!("RUNPATH [{RUNPATH}]")) {
            return Err(BuildError::Unexpected {
                path: f,
                found: found.unwrap_or_else(|| "no RUNPATH".into()),
                expected: format!("RUNPATH [{RUNPATH}] (`readelf -d`)"),
            });
        }
        // A library: NODEFLIB, so what it needs comes from the bundle or nowhere. A program
        // (it has an interpreter): never NODEFLIB, which would hide the system's libc from it;
        // the libraries it loads from the bundle bring their own NODEFLIB.
        let text = out.stdout_lossy();
        let program = text
            .lines()
            .any(|l| l.split_whitespace().next() == Some("INTERP"));
        if program && nodeflib(&text) {
            return Err(BuildError::Unexpected {
                path: f,
                found: "a program with the NODEFLIB flag (it cannot find libc)".into(),
                expected: "NODEFLIB on shared libraries only (`readelf -d`)".into(),
            });
        }
        if !program && !nodeflib(&text) {
            return Err(BuildError::Unexpected {
                path: f,
                found: "no NODEFLIB flag".into(),
                expected: "FLAGS_1 NODEFLIB (`readelf -d`; linked with -z nodefaultlib)".into(),
            });
        }
    }
    Ok(())
}

/// Whether `readelf -d` output shows `FLAGS_1 … NODEFLIB`.
fn nodeflib(readelf: &str) -> bool {
    readelf
        .lines()
        .any(|l| l.contains("(FLAGS_1)") && l.split_whitespace().any(|w| w == "NODEFLIB"))
}

/// `RPATH [..]`/`RUNPATH [..]` entries of `readelf -d` output, joined.
fn runpath_of(readelf: &str) -> Option<String> {
    let found: Vec<String> = readelf
        .lines()
        .filter_map(|l| {
            let kind = if l.contains("(RUNPATH)") {
                "RUNPATH"
            } else if l.contains("(RPATH)") {
                "RPATH"
            } else {
                return None;
            };
            let at = l.find('[')?;
            Some(format!("{kind} {}", l[at..].trim()))
        })
        .collect();
    (!found.is_empty()).then(|| found.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USELIBS: &str = "LIBS_LIBS += toolcore\nUSELIBS_toolcore :=\nUSELIBS_toollog :=\nUSELIBS_evtchn := toollog toolcore\nUSELIBS_gnttab := toollog toolcore\nUSELIBS_store := toolcore\nUSELIBS_vchan := toollog store gnttab evtchn\nFILENAME_util := xlutil\n";

    #[test]
    fn closure_lists_dependencies_first_once() {
        let got = libs_closure(USELIBS, Path::new("u.mk"), "vchan").unwrap();
        assert_eq!(
            got,
            ["toollog", "toolcore", "store", "gnttab", "evtchn", "vchan"]
        );
    }

    #[test]
    fn closure_names_a_missing_library_and_a_cycle() {
        let e = libs_closure(
            &USELIBS.replace("USELIBS_store := toolcore\n", ""),
            Path::new("u.mk"),
            "vchan",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "u.mk: no `USELIBS_store :=` line; expected one for every library the bundle's libxenvchan/libxenctrl need"
        );
        let e = libs_closure(
            &USELIBS.replace("USELIBS_toolcore :=", "USELIBS_toolcore := store"),
            Path::new("u.mk"),
            "vchan",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cycle vchan -> store -> toolcore -> store"),
            "{e}"
        );
    }

    #[test]
    fn runpath_is_read_from_readelf_output() {
        let out = " 0x000000000000000e (SONAME)   Library soname: [libxenvchan.so.4.17]\n 0x000000000000001d (RUNPATH)            Library runpath: [$ORIGIN/../lib]\n";
        assert_eq!(runpath_of(out).as_deref(), Some("RUNPATH [$ORIGIN/../lib]"));
        assert_eq!(
            runpath_of(" 0x0f (RPATH) Library rpath: [/usr/lib]\n").as_deref(),
            Some("RPATH [/usr/lib]")
        );
        assert_eq!(
            runpath_of(" 0x01 (NEEDED) Shared library: [libc.so.6]\n"),
            None
        );
    }

    #[test]
    fn pc_files_become_relative_and_carry_the_rpath_of_their_libdir() {
        let d = tempfile::tempdir().unwrap();
        let pre = "/opt/qubes-xen/4.17.6-6";
        std::fs::write(
            d.path().join("xenvchan.pc"),
            format!("prefix={pre}\nincludedir={pre}/include\nlibdir={pre}/lib\n\nLibs: -L${{libdir}} -lxenvchan\n"),
        )
        .unwrap();
        fix_pc_files(d.path(), pre).unwrap();
        let text = std::fs::read_to_string(d.path().join("xenvchan.pc")).unwrap();
        assert_eq!(
            text,
            format!("prefix={pre}\nincludedir=${{prefix}}/include\nlibdir=${{prefix}}/lib\n\nLibs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lxenvchan\n")
        );
        std::fs::write(d.path().join("odd.pc"), "Libs: -lodd\n").unwrap();
        let e = fix_pc_files(d.path(), pre).unwrap_err().to_string();
        assert!(
            e.contains("odd.pc: no line starting `libdir=/opt/qubes-xen/4.17.6-6/lib`"),
            "{e}"
        );
    }

    #[test]
    fn a_library_linked_without_the_bundle_flags_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let env = Environment::new(1781006553).unwrap();
        let src = d.path().join("x.c");
        std::fs::write(&src, "int x(void) { return 1; }\n").unwrap();
        let link = |name: &str, flags: &[&str]| {
            let mut c = env.command("gcc", d.path());
            c.args(["-shared", "-fPIC", "-o", name])
                .arg(&src)
                .args(flags)
                .current_dir(d.path());
            c.run().unwrap();
        };
        let lib = d.path().join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        link(
            "lib/libok.so.1",
            &["-Wl,-rpath,$ORIGIN/../lib", "-Wl,-z,nodefaultlib"],
        );
        std::fs::write(lib.join("notes.txt"), "not an ELF file").unwrap();
        check_runpaths(&lib, &env, d.path()).unwrap();
        link("lib/libplain.so.1", &[]);
        let e = check_runpaths(&lib, &env, d.path())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: no RUNPATH; expected RUNPATH [$ORIGIN/../lib] (`readelf -d`)",
                lib.join("libplain.so.1").display()
            )
        );
        std::fs::remove_file(lib.join("libplain.so.1")).unwrap();
        link("lib/libdeflib.so.1", &["-Wl,-rpath,$ORIGIN/../lib"]);
        let e = check_runpaths(&lib, &env, d.path())
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("libdeflib.so.1: no NODEFLIB flag; expected FLAGS_1 NODEFLIB (`readelf -d`; linked with -z nodefaultlib)"), "{e}");
    }

    #[test]
    fn programs_must_not_have_nodeflib_and_libraries_must() {
        let d = tempfile::tempdir().unwrap();
        let env = Environment::new(1781006553).unwrap();
        let src = d.path().join("m.c");
        std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let link = |flags: &[&str]| {
            let mut c = env.command("gcc", d.path());
            c.args(["-o", "bin/prog"])
                .arg(&src)
                .arg("-Wl,-rpath,$ORIGIN/../lib")
                .args(flags)
                .current_dir(d.path());
            c.run().unwrap();
        };
        link(&[]);
        check_runpaths(&bin, &env, d.path()).unwrap();
        link(&["-Wl,-z,nodefaultlib"]);
        let e = check_runpaths(&bin, &env, d.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("bin/prog: a program with the NODEFLIB flag (it cannot find libc); expected NODEFLIB on shared libraries only (`readelf -d`)"),
            "{e}"
        );
    }

    #[test]
    fn nodeflib_is_read_from_readelf_output() {
        assert!(nodeflib(
            " 0x000000006ffffffb (FLAGS_1)            Flags: NODEFLIB\n"
        ));
        assert!(!nodeflib(
            " 0x000000006ffffffb (FLAGS_1)            Flags: NOW PIE\n"
        ));
    }
}
