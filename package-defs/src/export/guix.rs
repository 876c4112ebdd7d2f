//! `export guix`: the Guix channel's modules. `(qubes-xen-kit sources)` holds an origin for
//! every pinned source; `(qubes-xen-kit packages)` the packages a Guix user installs, each
//! inheriting the `xen` of the Guix it is built with.
//!
//! Hand-written Scheme printing: the output is a handful of fixed forms, and no Rust crate
//! writes Guile code; every string goes through `scheme_string`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::defs::model::{Body, Definitions, Origin};

/// Module name of the generated file (`qubes-xen-kit/sources.scm` under a channel root).
pub const MODULE: &str = "(qubes-xen-kit sources)";

/// Module name of the packages file (`qubes-xen-kit/packages.scm` under a channel root).
pub const PACKAGES_MODULE: &str = "(qubes-xen-kit packages)";

/// The channel directory (`.guix-channel`'s `directory`), relative to the repository root.
pub const CHANNEL_DIR: &str = "guix";

/// The channel directory beside a definitions folder (`definitions/` -> `guix/`).
pub fn channel_dir(defs: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(defs).unwrap_or_else(|_| defs.to_path_buf());
    abs.parent()
        .map(|p| p.join(CHANNEL_DIR))
        .unwrap_or_else(|| PathBuf::from(CHANNEL_DIR))
}

/// Every generated file, relative to the channel directory, with its text.
pub fn channel(defs: &Definitions) -> Result<Vec<(&'static str, String)>, ExportError> {
    Ok(vec![
        ("qubes-xen-kit/sources.scm", export(defs)?),
        ("qubes-xen-kit/packages.scm", packages(defs)),
    ])
}

/// The generated files under `dir` that are missing or differ from `files` (paths as shown).
pub fn stale_files(dir: &Path, files: &[(&'static str, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, text)| std::fs::read(dir.join(rel)).ok().as_deref() != Some(text.as_bytes()))
        .map(|(rel, _)| dir.join(rel).display().to_string())
        .collect()
}

/// Writes `files` under `dir`, each through a temporary file renamed into place, so a
/// reader never sees half a module; unchanged files are left alone. Returns what changed.
pub fn write_channel(
    dir: &Path,
    files: &[(&'static str, String)],
) -> Result<Vec<PathBuf>, WriteError> {
    let mut changed = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
            continue;
        }
        let parent = path.parent().unwrap_or(dir);
        let io = |source| WriteError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(parent).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        changed.push(path);
    }
    Ok(changed)
}

/// A channel module that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}; check that the channel directory is writable", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The OpenPGP fingerprints a `.guix-authorizations` file lists: its 40-hex-digit strings,
/// spaces removed, upper case (the file is plain data; Guix reads it the same way).
pub fn authorized_fingerprints(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(|s| s.replace(' ', "").to_ascii_uppercase())
        .filter(|s| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .collect()
}

/// The Guix package (and variable) name of a definition: Guix already has a `xen`, so the
/// stable stream's package is `xen-qubes`, and another stream `qubes-xen-X` is `xen-qubes-X`
/// (Guix's `emacs-next` style: the variant after the name it varies); other names are kept.
pub fn package_name(definition: &str) -> String {
    if definition == "xen" {
        "xen-qubes".to_string()
    } else if let Some(stream) = definition.strip_prefix("qubes-xen-") {
        format!("xen-qubes-{}", ident(stream))
    } else {
        ident(definition)
    }
}

/// A Scheme string literal.
pub fn scheme_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Scheme identifier prefix for a package name (names are already plain).
fn ident(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.', '+'], "-")
}

fn git_origin(
    out: &mut String,
    var: &str,
    file_name: &str,
    version: &str,
    url: &str,
    commit: &str,
    nar: &str,
) {
    let _ = writeln!(out, "(define-public {var}\n  (origin\n    (method git-fetch)\n    (uri (git-reference\n          (url {})\n          (commit {})))\n    (file-name (git-file-name {} {}))\n    (sha256 (base32 {}))))\n",
        scheme_string(url), scheme_string(commit), scheme_string(file_name), scheme_string(version), scheme_string(nar));
}

fn string_list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| scheme_string(&s)).collect();
    format!("(list {})", v.join("\n        "))
}

/// A package whose chosen origin has no pins to export.
#[derive(Debug, thiserror::Error)]
#[error("{file}: `upstream.origin` is \"{origin}\", but that origin is not pinned; pin it with `package-defs update <package> <version>-<rel> --repin`")]
pub struct ExportError {
    pub file: String,
    pub origin: &'static str,
}

/// Renders the module for every package.
pub fn export(defs: &Definitions) -> Result<String, ExportError> {
    let mut out = String::new();
    let _ = writeln!(out, ";;; Generated by `package-defs export guix` from the package definitions.\n;;; Do not edit: run `package-defs update` and export again.\n;;; SPDX-License-Identifier: GPL-3.0-or-later\n");
    // `url-fetch` (guix download) only where a release tarball is pinned.
    let tarball = defs.packages.iter().any(|p| {
        p.as_xen()
            .is_some_and(|x| x.upstream.tarball.sha256.is_some())
    });
    let download = if tarball {
        "\n  #:use-module (guix download)"
    } else {
        ""
    };
    let _ = writeln!(out, "(define-module {MODULE}\n  #:use-module (guix packages)\n  #:use-module (guix git-download){download})\n");
    // Data packages first: xen packages refer to their origins.
    let mut ordered: Vec<&crate::defs::model::Package> = defs.packages.iter().collect();
    ordered.sort_by_key(|p| (p.as_xen().is_some(), p.name.clone()));
    for p in ordered {
        let id = ident(&p.name);
        let _ = writeln!(out, ";;; {} {} ({})\n", p.name, p.version, p.kind());
        let _ = writeln!(
            out,
            "(define-public {id}-version {})",
            scheme_string(&p.version.xen.to_string())
        );
        let _ = writeln!(
            out,
            "(define-public {id}-qubes-rel {})\n",
            scheme_string(&p.version.rel.to_string())
        );
        match &p.body {
            Body::Xen(x) => {
                let u = &x.upstream;
                let git = u.commit.as_deref().zip(u.nar_sha256.as_deref());
                match git {
                    Some((commit, nar)) => git_origin(
                        &mut out,
                        &format!("{id}-upstream-origin"),
                        "xen",
                        &p.version.xen.to_string(),
                        &u.git,
                        commit,
                        nar,
                    ),
                    None => {
                        let _ = writeln!(
                            out,
                            ";; Upstream git {} {} is not pinned (the tarball is the origin).
",
                            u.git, u.tag
                        );
                    }
                }
                // Guix's url-fetch hash is the file's sha256; written in base32 like every
                // other origin (the loader checked the hex).
                let tarball = u
                    .tarball
                    .sha256
                    .as_deref()
                    .map(content_hash::Sha256Digest::from_hex);
                match tarball {
                    Some(Ok(sha)) => {
                        let _ = writeln!(out, "(define-public {id}-upstream-tarball-origin\n  (origin\n    (method url-fetch)\n    (uri {})\n    (sha256 (base32 {}))))\n", scheme_string(&u.tarball.url), scheme_string(&sha.to_nix_base32()));
                    }
                    _ => {
                        let _ = writeln!(out, ";; Release tarball {} is not pinned yet (`package-defs update` pins it).\n", u.tarball.url);
                    }
                }
                // The origin the package builds from, as the definition chooses.
                let (chosen, pinned) = match u.origin {
                    Origin::Git => ("upstream-origin", git.is_some()),
                    Origin::Tarball => ("upstream-tarball-origin", matches!(tarball, Some(Ok(_)))),
                };
                if !pinned {
                    return Err(ExportError {
                        file: p.path.display().to_string(),
                        origin: u.origin.as_str(),
                    });
                }
                let _ = writeln!(out, "(define-public {id}-upstream-source {id}-{chosen})");
                let _ = writeln!(
                    out,
                    "(define-public {id}-qubes-data-origin {}-origin)",
                    ident(&x.data)
                );
                let _ = writeln!(
                    out,
                    "(define-public {id}-hv-abi {})",
                    scheme_string(&x.hv_abi)
                );
                let _ = writeln!(
                    out,
                    "(define-public {id}-configure-flags\n  {})\n",
                    string_list(x.configure_flags.iter().cloned())
                );
            }
            Body::QubesData(d) => {
                let s = &d.source;
                git_origin(
                    &mut out,
                    &format!("{id}-origin"),
                    &p.name,
                    &p.version.to_string(),
                    &s.repo,
                    &s.commit,
                    &s.nar_sha256,
                );
                let _ = writeln!(
                    out,
                    ";; Hypervisor .config inside {id}-origin, installed as xen/.config."
                );
                let _ = writeln!(
                    out,
                    "(define-public {id}-config {})",
                    scheme_string(&d.config.file)
                );
                let _ = writeln!(
                    out,
                    "(define-public {id}-config-sha256 {})\n",
                    scheme_string(&d.config.sha256)
                );
                let _ = writeln!(out, ";; Patch series inside {id}-origin, in the order to apply (patch -p1):\n;; (number file sha256-hex).");
                let entries: Vec<String> = d
                    .patches
                    .iter()
                    .map(|pp| {
                        format!(
                            "({} {} {})",
                            pp.number,
                            scheme_string(&pp.file),
                            scheme_string(&pp.sha256)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "(define-public {id}-patch-series\n  '({}))\n",
                    entries.join("\n    ")
                );
                let _ = writeln!(
                    out,
                    "(define-public {id}-patches\n  (map cadr {id}-patch-series))\n"
                );
            }
        }
    }
    Ok(out)
}

/// Long options of Guix 1.5.0's `xen` `#:configure-flags` (gnu/packages/virtualization.scm).
/// A definition's flag for one of these options is left out (Guix's wins: its values point
/// into the store); so is `--disable-X` where Guix passes `--with-system-X=FILE`. The real-Guix
/// test checks this list against the flags Guix's `xen` really evaluates to.
pub const GUIX_XEN_OPTIONS: [&str; 8] = [
    "--enable-rpath",
    "--disable-qemu-traditional",
    "--disable-rombios",
    "--disable-stubdom",
    "--with-initddir",
    "--with-system-qemu",
    "--with-system-seabios",
    "--with-system-ovmf",
];

/// The definition's configure flags Guix's `xen` does not already set, in order: appended to
/// Guix's flags when the module is generated.
pub fn added_configure_flags(flags: &[String]) -> Vec<String> {
    let option = |f: &str| f.split('=').next().unwrap_or(f).to_string();
    flags
        .iter()
        .filter(|f| {
            let o = option(f);
            let supplied = o
                .strip_prefix("--disable-")
                .is_some_and(|x| GUIX_XEN_OPTIONS.contains(&format!("--with-system-{x}").as_str()));
            !GUIX_XEN_OPTIONS.contains(&o.as_str()) && !supplied
        })
        .cloned()
        .collect()
}

/// Build-side helpers shared by every Xen package of the module.
const PACKAGES_PRELUDE: &str = r#"(define binutils/pe
  ;; Xen links xen.efi with its own `ld -mi386pep' and skips it when the linker
  ;; lacks that emulation, as Guix's binutils does.
  (package/inherit binutils
    (name "binutils-pe")
    (arguments
     (substitute-keyword-arguments (package-arguments binutils)
       ((#:configure-flags flags)
        #~(cons "--enable-targets=x86_64-pep" #$flags))))))

(define (qubes-series-patches data-origin files)
  "Qubes' patch series: FILES inside DATA-ORIGIN, in the order rpm applies them.
They are not in Guix's patch directory, so `search-patches' cannot find them."
  (map (lambda (file)
         (file-append data-origin "/" file))
       files))

(define (qubes-config-kept qubes-config allowed)
  "Return a build phase that fails when the completed @file{xen/.config} has
turned off an option QUBES-CONFIG sets, other than those in ALLOWED:
@command{make olddefconfig} drops options the toolchain cannot build, such as
CONFIG_XEN_IBT with a compiler lacking CET support."
  #~(lambda _
      (define (set-options file)
        (let ((lines (string-split (call-with-input-file file get-string-all)
                                   #\newline)))
          (map (lambda (line)
                 (car (string-split line #\=)))
               (filter (lambda (line)
                         (and (string-prefix? "CONFIG_" line)
                              (not (string-suffix? "=n" line))))
                       lines))))
      (let* ((kept (set-options "xen/.config"))
             (dropped (filter (lambda (option)
                                (not (or (member option kept)
                                         (member option '#$allowed))))
                              (set-options #$qubes-config))))
        (unless (null? dropped)
          (error "olddefconfig turned off options Qubes' config sets:"
                 dropped)))))
"#;

/// Renders `(qubes-xen-kit packages)`: one package per Xen definition (the Qubes data stay
/// plain origins in `(qubes-xen-kit sources)`: nothing a user installs).
pub fn packages(defs: &Definitions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, ";;; Generated by `package-defs export guix` from the package definitions.\n;;; Do not edit: run `package-defs update` and export again.\n;;; SPDX-License-Identifier: GPL-3.0-or-later\n");
    let _ = writeln!(
        out,
        "(define-module {PACKAGES_MODULE}
  #:use-module (guix packages)
  #:use-module (guix gexp)
  #:use-module (guix utils)
  #:use-module ((guix build-system gnu) #:select (%default-gnu-modules))
  #:use-module ((gnu packages base) #:select (binutils))
  #:use-module ((gnu packages virtualization) #:select ((xen . guix-xen)))
  #:use-module {MODULE})
"
    );
    out.push_str(PACKAGES_PRELUDE);
    let mut ordered: Vec<&crate::defs::model::Package> = defs
        .packages
        .iter()
        .filter(|p| p.as_xen().is_some())
        .collect();
    ordered.sort_by_key(|p| (p.name != "xen", p.name.clone()));
    for p in ordered {
        let Body::Xen(x) = &p.body else { continue };
        let id = ident(&p.name);
        let var = package_name(&p.name);
        let data = ident(&x.data);
        let v = &p.version.xen;
        // Xen 4.18 renamed tools/xenstore/ to tools/xenstored/, and Guix's `patch'
        // phase edits tools/xenstored/Makefile; older trees get an alias for it.
        let xenstored = if (v.major, v.minor) < (4, 18) {
            r#"
            ;; Xen before 4.18 keeps xenstored in tools/xenstore/, but Guix's
            ;; `patch' phase edits tools/xenstored/Makefile: alias it.
            (add-before 'patch 'alias-xenstored-directory
              (lambda _
                (symlink "xenstore" "tools/xenstored")))
            (add-after 'patch 'remove-xenstored-alias
              (lambda _
                (delete-file "tools/xenstored")))"#
        } else {
            ""
        };
        let added = added_configure_flags(&x.configure_flags);
        let added = added
            .iter()
            .map(|f| scheme_string(f))
            .collect::<Vec<_>>()
            .join("\n                  ");
        let allowed = x
            .allow_dropped_options
            .iter()
            .map(|f| scheme_string(f))
            .collect::<Vec<_>>()
            .join(" ");
        let next = if p.name == "xen" {
            ""
        } else {
            "  This is the Xen series of the next Qubes OS release."
        };
        let version = if p.name == "xen" {
            format!("{id}-version \"-\" {id}-qubes-rel")
        } else {
            format!("{id}-version \"-\"\n                            {id}-qubes-rel")
        };
        let _ = writeln!(
            out,
            r#"
(define-public {var}
  (package
    (inherit guix-xen)
    (name {name})
    (version (string-append {version}))
    (source
     (origin
       (inherit {id}-upstream-source)
       (patches (qubes-series-patches {data}-origin
                                      {data}-patches))
       ;; Qubes' spec applies its series with rpm's %autosetup -p1: no fuzz.
       (patch-flags '("-p1" "--fuzz=0"))))
    (arguments
     (substitute-keyword-arguments (package-arguments guix-xen)
       ((#:modules modules %default-gnu-modules)
        ;; get-string-all, for the config check.
        `((ice-9 textual-ports) ,@modules))
       ((#:configure-flags flags)
        ;; Qubes' flags that Guix does not set already.
        #~(append #$flags
                '({added})))
       ((#:make-flags flags)
        #~(cons (string-append "LD=" #$(file-append binutils/pe "/bin/ld"))
                #$flags))
       ((#:phases phases)
        #~(modify-phases #$phases{xenstored}
            (add-after 'set-environment-up 'set-qubes-efi-vendor
              (lambda _
                (setenv "EFI_VENDOR" "qubes")))
            (add-after 'configure 'install-qubes-config
              (lambda* (#:key make-flags #:allow-other-keys)
                (copy-file #$(file-append {data}-origin "/"
                                          {data}-config)
                           "xen/.config")
                (make-file-writable "xen/.config")
                ;; Complete Qubes' config for this tree's Kconfig.
                (apply invoke "make" "-C" "xen" "olddefconfig" make-flags)))
            (add-after 'install-qubes-config 'check-qubes-config-kept
              #$(qubes-config-kept (file-append {data}-origin "/"
                                                {data}-config)
                                   '({allowed})))
            ;; Xen installs xen.efi into BOOT_DIR/efi/efi/EFI_VENDOR, which must
            ;; exist, as Qubes' spec makes it: under dist/install for the `dist'
            ;; step of `make world', and in the output for `make install'.
            (add-before 'build 'make-efi-vendor-directories
              (lambda _
                (for-each (lambda (root)
                            (mkdir-p (string-append root #$output
                                                    "/boot/efi/efi/qubes")))
                          '("dist/install" ""))))))))
    (supported-systems '("x86_64-linux"))
    (properties `((cpe-name . "xen")
                  (cpe-version . ,{id}-version)))
    (synopsis "Xen hypervisor and tools as Qubes OS builds them")
    (description
     "Xen is a type-1 hypervisor that runs several operating systems side by
side in isolated domains.  This package provides the hypervisor, including its
EFI executable, and the tools that manage domains, built with the patch series
and hypervisor configuration of Qubes OS, which isolates applications in Xen
domains.{next}")))"#,
            name = scheme_string(&var),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizations_fingerprints_are_read() {
        let text = r#"(authorizations (version 0)
  (("AD17 A21E F8AE D8F1 CC02  DBD9 F7D5 C9BF 765C 61E3" (name "alice"))
   ("0123456789abcdef0123456789abcdef01234567" (name "bot"))))"#;
        assert_eq!(
            authorized_fingerprints(text),
            [
                "AD17A21EF8AED8F1CC02DBD9F7D5C9BF765C61E3",
                "0123456789ABCDEF0123456789ABCDEF01234567"
            ]
        );
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(scheme_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
