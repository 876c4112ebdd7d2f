//! Qubes template metadata files and the optional `qubes-template-<name>` RPM.

use crate::error::{ImageError, Result};
use crate::spec::{Compression, ImageSpec};
use crate::tools::{command, run};
use std::path::{Path, PathBuf};

/// Install directory of a template in dom0, which `qvm-template` expects inside the RPM.
pub const TEMPLATES_DIR: &str = "/var/lib/qubes/vm-templates";

/// The three app-menu lists `qvm-template-postprocess` reads (it fails if one is missing).
pub const MENU_LISTS: [&str; 3] = [
    "whitelisted-appmenus.list",
    "vm-whitelisted-appmenus.list",
    "netvm-whitelisted-appmenus.list",
];

/// `template.conf`: `KEY=VALUE` lines only (Qubes splits each line at the first `=`, so a
/// comment or blank line would break the import).
pub fn template_conf(spec: &ImageSpec) -> String {
    spec.qubes
        .conf
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

/// Writes template.conf and the menu lists into `dir`; returns their paths.
pub fn write_metadata(spec: &ImageSpec, dir: &Path) -> Result<Vec<PathBuf>> {
    let q = &spec.qubes;
    let mut files = Vec::new();
    let conf = dir.join("template.conf");
    std::fs::write(&conf, template_conf(spec)).map_err(ImageError::io(&conf))?;
    files.push(conf);
    for (name, items) in
        MENU_LISTS
            .iter()
            .zip([&q.menu_items, &q.default_menu_items, &q.netvm_menu_items])
    {
        let path = dir.join(name);
        let text: String = items.iter().map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, text).map_err(ImageError::io(&path))?;
        files.push(path);
    }
    Ok(files)
}

/// The rpmbuild spec; `%pre` refuses a plain `rpm`/`dnf` install because `qvm-template` unpacks
/// the package without running scripts and imports the volume itself.
pub fn rpm_spec(spec: &ImageSpec, files: &[String]) -> String {
    let q = &spec.qubes;
    let dest = format!("{TEMPLATES_DIR}/{}", spec.name);
    let mut install = format!("mkdir -p %{{buildroot}}{dest}\n");
    // The staged directory reaches %install through the environment, so no path quoting or
    // rpm macro expansion (`%` in a path) can bite; file names are validated by the spec.
    for f in files {
        install.push_str(&format!(
            "ln \"$QXK_STAGED/{f}\" %{{buildroot}}{dest}/{f} 2>/dev/null || cp \"$QXK_STAGED/{f}\" %{{buildroot}}{dest}/{f}\n"
        ));
    }
    let listed: String = files.iter().map(|f| format!("{dest}/{f}\n")).collect();
    format!(
        "Name: qubes-template-{name}\n\
         Version: {version}\n\
         Release: {release}\n\
         Summary: {summary}\n\
         License: GPL-3.0-or-later\n\
         BuildArch: noarch\n\
         Provides: qubes-template\n\
         AutoReqProv: no\n\
         \n\
         %description\n\
         {summary}. Install it with qvm-template.\n\
         \n\
         %pre\n\
         echo 'qubes-template-{name}: install this template with qvm-template (it imports root.img into a volume); a plain rpm/dnf install is refused.' >&2\n\
         exit 1\n\
         \n\
         %install\n\
         {install}\n\
         %files\n\
         %defattr(0644,root,root,0755)\n\
         %dir {dest}\n\
         {listed}",
        name = spec.name,
        version = q.version,
        release = q.release,
        summary = q.summary,
    )
}

/// Builds the template RPM from the files staged in `staged` into `out_dir`, using `work`
/// for rpmbuild's tree.
pub fn build_rpm(
    spec: &ImageSpec,
    staged: &Path,
    files: &[String],
    work: &Path,
    out_dir: &Path,
) -> Result<PathBuf> {
    let top = work.join("rpmbuild");
    let spec_path = work.join("template.spec");
    std::fs::create_dir_all(&top).map_err(ImageError::io(&top))?;
    std::fs::write(&spec_path, rpm_spec(spec, files)).map_err(ImageError::io(&spec_path))?;
    let payload = match spec.compression {
        Compression::None => "w0.ufdio",
        Compression::Gzip => "w9.gzdio",
        Compression::Xz => "w6.xzdio",
        Compression::Zstd => "w19.zstdio",
    };
    let defines = [
        format!("_topdir {}", top.display()),
        format!("_dbpath {}/rpmdb", top.display()),
        "_build_id_links none".to_string(),
        "__os_install_post %{nil}".to_string(),
        "_buildhost qubes-xen-kit".to_string(),
        "use_source_date_epoch_as_buildtime 1".to_string(),
        "clamp_mtime_to_source_date_epoch 1".to_string(),
        format!("_binary_payload {payload}"),
        "_rpmfilename %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm".to_string(),
        "_tmppath %{_topdir}/tmp".to_string(),
    ];
    std::fs::create_dir_all(top.join("tmp")).map_err(ImageError::io(&top))?;
    let mut cmd = command("rpmbuild");
    cmd.env("SOURCE_DATE_EPOCH", spec.source_date_epoch.to_string())
        .env("HOME", work)
        .env("QXK_STAGED", staged)
        .arg("-bb")
        .arg("--nodeps")
        .arg("--quiet");
    for d in &defines {
        cmd.arg("--define").arg(d);
    }
    cmd.arg(&spec_path);
    run(&mut cmd, "rpmbuild comes from Debian's `rpm` package")?;
    let name = format!(
        "qubes-template-{}-{}-{}.noarch.rpm",
        spec.name, spec.qubes.version, spec.qubes.release
    );
    let built = top.join("RPMS").join(&name);
    let dest = out_dir.join(&name);
    std::fs::rename(&built, &dest).map_err(ImageError::io(&built))?;
    Ok(dest)
}
