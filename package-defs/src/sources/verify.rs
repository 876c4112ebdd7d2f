//! `verify` (fetch every pin again and compare) and the fetching half of `prepare`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::defs::model::{Body, DataDef, Definitions, Origin, Package, XenDef, UNPINNED};
use crate::sources::fetch::{pinned_keys, Sources};
use crate::update::read_hv_abi;

/// Outcome for one package: what was checked, and every mismatch.
#[derive(Debug, Clone, Serialize)]
pub struct PackageCheck {
    pub package: String,
    pub checked: Vec<String>,
    pub problems: Vec<String>,
}

fn nar(dir: &Path) -> anyhow::Result<String> {
    Ok(content_hash::nar_hash(dir)?.to_nix_base32())
}

fn sha(path: &Path) -> anyhow::Result<String> {
    Ok(content_hash::hash_file(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .0
        .to_hex())
}

/// Fetches (verifying the signature) and checks the pinned commit; returns the tree.
fn fetch_pinned(
    dir: &Path,
    sources: &dyn Sources,
    repo: &str,
    tag: &str,
    commit: &str,
    keys: &[String],
    dest: &Path,
) -> anyhow::Result<()> {
    let keys = pinned_keys(dir, keys)?;
    let got = sources.signed_tag_tree(repo, tag, &keys, dest)?;
    if got != commit {
        anyhow::bail!(
            "{repo} tag {tag} is commit {got}, but the definition pins {commit} (the tag moved?)"
        );
    }
    Ok(())
}

/// Fetches Qubes data as pinned: a signed tag (checked, and its commit compared with the pin)
/// or, for an unmerged branch, the pinned commit itself.
pub(crate) fn fetch_data(
    dir: &Path,
    sources: &dyn Sources,
    s: &crate::defs::model::DataSource,
    dest: &Path,
) -> anyhow::Result<()> {
    match &s.tag {
        Some(tag) => fetch_pinned(dir, sources, &s.repo, tag, &s.commit, &s.signing_keys, dest),
        None => {
            let keys = pinned_keys(dir, &s.signing_keys)?;
            crate::sources::fetch::data_tree(
                sources,
                &s.repo,
                crate::sources::fetch::DataRef::Commit(&s.commit),
                &keys,
                dest,
            )?;
            Ok(())
        }
    }
}

fn check_xen(
    dir: &Path,
    x: &XenDef,
    sources: &dyn Sources,
    dest: &Path,
    c: &mut PackageCheck,
) -> anyhow::Result<()> {
    let u = &x.upstream;
    let keys = pinned_keys(dir, &u.signing_keys)?;
    if u.origin == Origin::Tarball && u.tarball.sha256.is_none() {
        anyhow::bail!("{}", unpinned_tarball(x));
    }
    // Every pinned pin is checked; the origin's pins must be there.
    let git_pins = u.commit.as_deref().zip(u.nar_sha256.as_deref());
    let tree = match git_pins {
        Some((commit, nar_pin)) => {
            fetch_pinned(dir, sources, &u.git, &u.tag, commit, &u.signing_keys, dest)?;
            c.checked.push("signed tag + commit".into());
            let n = nar(dest)?;
            if n != nar_pin {
                c.problems
                    .push(format!("upstream NAR sha256 is {n}, pinned {nar_pin}"));
            }
            c.checked.push("NAR sha256".into());
            Some(dest.to_path_buf())
        }
        None => {
            c.checked.push("git pins unpinned (tarball origin)".into());
            None
        }
    };
    let tree = match &u.tarball.sha256 {
        None => {
            c.checked.push("tarball unpinned (skipped)".into());
            tree
        }
        // The tarball's tree is only unpacked when no git tree gave hv_abi already.
        Some(sha) if tree.is_none() => {
            let t = sources.signed_tarball_tree(
                &u.tarball.url,
                &u.tarball.sig_url,
                Some(sha),
                &keys,
                &dest.with_extension("tarball"),
            )?;
            c.checked.push("tarball sha256 + signature".into());
            Some(t.root)
        }
        Some(sha) => {
            sources.signed_tarball(&u.tarball.url, &u.tarball.sig_url, Some(sha), &keys)?;
            c.checked.push("tarball sha256 + signature".into());
            tree
        }
    };
    if let Some(tree) = tree {
        let abi = read_hv_abi(&tree)?;
        if abi != x.hv_abi {
            c.problems
                .push(format!("hv_abi is {abi}, pinned {}", x.hv_abi));
        }
        c.checked.push("hv_abi".into());
    }
    Ok(())
}

/// The error for a tarball-origin package whose tarball is not pinned yet.
fn unpinned_tarball(x: &XenDef) -> String {
    format!(
        "`upstream.origin` is \"tarball\", but `upstream.tarball.sha256` is \"{UNPINNED}\"; pin it with `package-defs update <package> <version>-<rel> --repin` (tarball {})",
        x.upstream.tarball.url
    )
}

fn check_data(
    dir: &Path,
    d: &DataDef,
    sources: &dyn Sources,
    dest: &Path,
    c: &mut PackageCheck,
) -> anyhow::Result<()> {
    let s = &d.source;
    fetch_data(dir, sources, s, dest)?;
    c.checked.push(match s.tag {
        Some(_) => "signed tag + commit".into(),
        None => "commit (unsigned: unmerged branch, pinned by id)".into(),
    });
    let n = nar(dest)?;
    if n != s.nar_sha256 {
        c.problems
            .push(format!("NAR sha256 is {n}, pinned {}", s.nar_sha256));
    }
    let tree = crate::defs::spec::read_tree(dest)?;
    let series: Vec<(u32, &str)> = tree
        .series
        .iter()
        .map(|p| (p.number, p.file.as_str()))
        .collect();
    let pinned: Vec<(u32, &str)> = d
        .patches
        .iter()
        .map(|p| (p.number, p.file.as_str()))
        .collect();
    if series != pinned {
        c.problems.push(
            "the spec's patch series differs from the pinned one (order, numbers or files)".into(),
        );
    }
    for p in &d.patches {
        let h = sha(&dest.join(&p.file))?;
        if h != p.sha256 {
            c.problems
                .push(format!("{}: sha256 {h}, pinned {}", p.file, p.sha256));
        }
    }
    let h = sha(&dest.join(&d.config.file))?;
    if h != d.config.sha256 {
        c.problems.push(format!(
            "{}: sha256 {h}, pinned {}",
            d.config.file, d.config.sha256
        ));
    }
    c.checked
        .extend(["NAR sha256".into(), "patch series".into(), "config".into()]);
    Ok(())
}

/// Checks every package; a fetch or signature failure is a problem of that package.
pub fn verify_all(defs: &Definitions, sources: &dyn Sources, work: &Path) -> Vec<PackageCheck> {
    defs.packages
        .iter()
        .map(|p| {
            let mut c = PackageCheck {
                package: p.name.clone(),
                checked: Vec::new(),
                problems: Vec::new(),
            };
            let dest = work.join(&p.name);
            let r = match &p.body {
                Body::Xen(x) => check_xen(&defs.dir, x, sources, &dest, &mut c),
                Body::QubesData(d) => check_data(&defs.dir, d, sources, &dest, &mut c),
            };
            if let Err(e) = r {
                c.problems.push(format!("{e:#}"));
            }
            c
        })
        .collect()
}

/// Fetches and verifies the pinned trees of xen package `name`, then runs `prepare`.
pub fn fetch_and_prepare(
    defs: &Definitions,
    name: &str,
    sources: &dyn Sources,
    work: &Path,
    vendor: &Path,
) -> anyhow::Result<PathBuf> {
    let v = fetch_verified(defs, name, sources, work)?;
    Ok(crate::sources::prepare::prepare(
        v.package,
        v.data,
        &v.qubes_dir,
        &v.upstream_dir,
        vendor,
    )?)
}

/// The verified inputs of xen package `package`: both trees fetched and checked against
/// every pin (signatures, commits, NAR sha256 or tarball sha256).
#[derive(Debug)]
pub struct Verified<'a> {
    pub package: &'a Package,
    pub xen: &'a XenDef,
    pub data_package: &'a Package,
    pub data: &'a DataDef,
    /// Qubes' packaging tree (patches, config).
    pub qubes_dir: PathBuf,
    /// Upstream Xen, unpatched.
    pub upstream_dir: PathBuf,
}

/// Fetches and verifies the pinned trees of xen package `name` into `work`.
pub fn fetch_verified<'a>(
    defs: &'a Definitions,
    name: &str,
    sources: &dyn Sources,
    work: &Path,
) -> anyhow::Result<Verified<'a>> {
    let pkg: &Package = defs.get(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown package '{name}'; known: {}",
            defs.names().join(", ")
        )
    })?;
    let x = pkg.as_xen().ok_or_else(|| {
        anyhow::anyhow!("'{name}' is a data package; prepare the xen package that uses it")
    })?;
    let data_pkg = defs
        .get(&x.data)
        .ok_or_else(|| anyhow::anyhow!("data package '{}' missing", x.data))?;
    let d = data_pkg
        .as_data()
        .ok_or_else(|| anyhow::anyhow!("'{}' is not a data package", x.data))?;
    let qdir = work.join("qubes");
    fetch_data(&defs.dir, sources, &d.source, &qdir)?;
    let udir = work.join("upstream");
    let u = &x.upstream;
    let udir = match (u.origin, u.commit.as_deref(), u.nar_sha256.as_deref()) {
        (Origin::Git, Some(commit), Some(nar_pin)) => {
            fetch_pinned(
                &defs.dir,
                sources,
                &u.git,
                &u.tag,
                commit,
                &u.signing_keys,
                &udir,
            )?;
            let n = nar(&udir)?;
            if n != nar_pin {
                anyhow::bail!(
                    "upstream {} NAR sha256 is {n}, but the definition pins {nar_pin}",
                    u.tag
                );
            }
            udir
        }
        (Origin::Git, _, _) => anyhow::bail!(
            "{}: upstream Xen builds from git, but its commit or NAR sha256 is unpinned",
            pkg.path.display()
        ),
        (Origin::Tarball, _, _) => {
            let sha = u.tarball.sha256.as_deref().ok_or_else(|| {
                anyhow::anyhow!("{}: {}", pkg.path.display(), unpinned_tarball(x))
            })?;
            let keys = pinned_keys(&defs.dir, &u.signing_keys)?;
            sources
                .signed_tarball_tree(&u.tarball.url, &u.tarball.sig_url, Some(sha), &keys, &udir)?
                .root
        }
    };
    Ok(Verified {
        package: pkg,
        xen: x,
        data_package: data_pkg,
        data: d,
        qubes_dir: qdir,
        upstream_dir: udir,
    })
}
