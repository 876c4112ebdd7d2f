//! The registry of image types. An image type turns a checked spec and its root tree into
//! files; every type reads the same spec, so one spec builds any of them unchanged.

use crate::content::Tree;
use crate::disk::{write_ext4, write_partition_table, FsOptions};
use crate::error::{ImageError, Result};
use crate::layout::{plan, Layout};
use crate::spec::{qubes_partitions, Compression, ImageSpec};
use crate::tools::{command, run};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// What a builder gets: the spec, the tree, a scratch dir and the staging dir for outputs.
pub struct BuildContext<'a> {
    pub spec: &'a ImageSpec,
    pub tree: &'a Tree,
    pub work: &'a Path,
    pub stage: &'a Path,
}

/// What a builder produced.
#[derive(Debug, Default)]
pub struct Built {
    /// Output files, relative to the output directory.
    pub files: Vec<PathBuf>,
    pub layout: Option<Layout>,
}

/// One entry of the registry.
pub struct ImageType {
    pub name: &'static str,
    pub description: &'static str,
    pub build: fn(&BuildContext) -> Result<Built>,
}

/// All image types, in `--list-image-types` order.
pub fn registry() -> &'static [ImageType] {
    &[
        ImageType {
            name: "raw",
            description: "GPT disk image (disk.img, sparse) with the spec's partitions; the root tree is an ext4 partition",
            build: build_raw,
        },
        ImageType {
            name: "qcow2",
            description: "the raw disk converted with qemu-img (disk.qcow2; compressed unless compression = \"none\")",
            build: build_qcow2,
        },
        ImageType {
            name: "qubes-template",
            description: "Qubes template: root.img.part.NN (old-GNU sparse tar of the Qubes GPT layout), template.conf, app-menu lists, optional RPM",
            build: build_qubes_template,
        },
        ImageType {
            name: "tarball",
            description: "the root tree as a reproducible tar (root.tar[.gz|.xz|.zst]), owned by root",
            build: build_tarball,
        },
    ]
}

/// Finds an image type by name; `origin` says where the name came from, for the error.
pub fn lookup(name: &str, origin: &str) -> Result<&'static ImageType> {
    registry()
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ImageError::UnknownImageType {
            name: name.to_string(),
            origin: origin.to_string(),
            known: registry()
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn fs_options(spec: &ImageSpec) -> FsOptions {
    FsOptions {
        uuid: spec.root_fs_uuid,
        hash_seed: Uuid::new_v5(&spec.root_fs_uuid, b"htree-hash-seed"),
        epoch: spec.source_date_epoch,
        journal: !spec.volatile_root,
    }
}

/// Writes a partitioned disk with the root tree into `path`.
pub fn write_disk(
    spec: &ImageSpec,
    tree: &Tree,
    path: &Path,
    qubes_layout: bool,
) -> Result<Layout> {
    let parts = if qubes_layout {
        qubes_partitions()
    } else {
        spec.partitions.clone()
    };
    let disk_id = if qubes_layout {
        Uuid::parse_str(crate::spec::QUBES_DISK_ID).expect("constant GUID")
    } else {
        spec.disk_id
    };
    let layout = plan(spec, &parts, tree.content_bytes)?;
    write_partition_table(path, &layout, &disk_id)?;
    let root = layout.root();
    write_ext4(path, root.start, root.size, tree, &fs_options(spec))?;
    Ok(layout)
}

fn build_raw(cx: &BuildContext) -> Result<Built> {
    if cx.spec.compression != Compression::None {
        tracing::info!("raw images stay uncompressed so they stay sparse; `compression` applies to qcow2, tarball and the template RPM");
    }
    let layout = write_disk(cx.spec, cx.tree, &cx.stage.join("disk.img"), false)?;
    Ok(Built {
        files: vec!["disk.img".into()],
        layout: Some(layout),
    })
}

fn build_qcow2(cx: &BuildContext) -> Result<Built> {
    let raw = cx.work.join("disk.img");
    let layout = write_disk(cx.spec, cx.tree, &raw, false)?;
    let mut cmd = command("qemu-img");
    cmd.args(["convert", "-q", "-f", "raw", "-O", "qcow2"]);
    match cx.spec.compression {
        Compression::None => {}
        Compression::Zstd => {
            cmd.args(["-c", "-o", "compression_type=zstd"]);
        }
        Compression::Gzip | Compression::Xz => {
            cmd.arg("-c");
        }
    }
    cmd.arg(&raw).arg(cx.stage.join("disk.qcow2"));
    run(&mut cmd, "qemu-img comes from Debian's qemu-utils")?;
    std::fs::remove_file(&raw).map_err(ImageError::io(&raw))?;
    Ok(Built {
        files: vec!["disk.qcow2".into()],
        layout: Some(layout),
    })
}

fn build_qubes_template(cx: &BuildContext) -> Result<Built> {
    let img = cx.work.join("root.img");
    let layout = write_disk(cx.spec, cx.tree, &img, true)?;
    let parts = crate::sparse_tar::write_parts(
        cx.work,
        "root.img",
        cx.stage,
        cx.spec.qubes.part_size,
        cx.spec.source_date_epoch,
    )?;
    tracing::debug!(parts = parts.len(), "sparse tar written");
    std::fs::remove_file(&img).map_err(ImageError::io(&img))?;
    let mut files: Vec<PathBuf> = parts
        .iter()
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    for m in crate::template::write_metadata(cx.spec, cx.stage)? {
        if let Some(n) = m.file_name() {
            files.push(PathBuf::from(n));
        }
    }
    if cx.spec.qubes.rpm {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let rpm = crate::template::build_rpm(cx.spec, cx.stage, &names, cx.work, cx.stage)?;
        if let Some(n) = rpm.file_name() {
            files.push(PathBuf::from(n));
        }
    }
    Ok(Built {
        files,
        layout: Some(layout),
    })
}

fn build_tarball(cx: &BuildContext) -> Result<Built> {
    let (name, compressor) = match cx.spec.compression {
        Compression::None => ("root.tar", None),
        Compression::Gzip => ("root.tar.gz", Some("gzip -n -9")),
        Compression::Xz => ("root.tar.xz", Some("xz -T1 -6")),
        Compression::Zstd => ("root.tar.zst", Some("zstd -q -19")),
    };
    let mut cmd = command("tar");
    cmd.args([
        "--format=gnu",
        "--sort=name",
        "--numeric-owner",
        "--owner=0",
        "--group=0",
        "--clamp-mtime",
    ])
    .arg(format!("--mtime=@{}", cx.spec.source_date_epoch));
    if let Some(c) = compressor {
        cmd.arg(format!("--use-compress-program={c}"));
    }
    cmd.arg("-C")
        .arg(&cx.tree.dir)
        .arg("-cf")
        .arg(cx.stage.join(name))
        .arg(".");
    run(&mut cmd, "GNU tar (and the compressor) must be installed")?;
    Ok(Built {
        files: vec![name.into()],
        layout: None,
    })
}
