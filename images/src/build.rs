//! Building an image atomically: everything is written into hidden directories next to the
//! output and renamed into place at the end, so a failed build leaves nothing behind.

use crate::content;
use crate::error::{ImageError, Result};
use crate::layout::Layout;
use crate::spec::ImageSpec;
use crate::types::{lookup, BuildContext};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a build produced; also written as `image.json` into the output directory.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub name: String,
    pub image_type: String,
    pub output: PathBuf,
    pub files: Vec<PathBuf>,
    pub content_bytes: u64,
    pub volatile_root: bool,
    pub root_fs_uuid: String,
    pub source_date_epoch: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
}

/// Options for [`build`].
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// Overrides the spec's `type`.
    pub image_type: Option<String>,
    /// Replace an existing output directory.
    pub force: bool,
}

/// Builds `spec` into the directory `out`.
pub fn build(spec: &ImageSpec, out: &Path, opts: &BuildOptions) -> Result<BuildReport> {
    let (type_name, origin) = match (&opts.image_type, &spec.image_type) {
        (Some(t), _) => (t.clone(), "the command line".to_string()),
        (None, Some(t)) => (t.clone(), "key `type` of the spec".to_string()),
        (None, None) => ("qubes-template".to_string(), "the default".to_string()),
    };
    let image_type = lookup(&type_name, &origin)?;
    if out.exists() && !opts.force {
        return Err(ImageError::OutputExists {
            path: out.to_path_buf(),
        });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(ImageError::io(&parent))?;
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| spec.name.clone());
    let tmp = |what: &str| {
        tempfile::Builder::new()
            .prefix(&format!(".{base}.{what}."))
            .tempdir_in(&parent)
            .map_err(ImageError::io(&parent))
    };
    let work = tmp("work")?;
    let stage = tmp("stage")?;
    let tree = content::prepare(&spec.root, &spec.add, work.path())?;
    tracing::info!(
        image_type = image_type.name,
        entries = tree.entries.len(),
        content_mib = tree.content_bytes >> 20,
        "building"
    );
    let built = (image_type.build)(&BuildContext {
        spec,
        tree: &tree,
        work: work.path(),
        stage: stage.path(),
    })?;
    let mut files = built.files;
    files.push("image.json".into());
    let report = BuildReport {
        name: spec.name.clone(),
        image_type: image_type.name.to_string(),
        output: out.to_path_buf(),
        files,
        content_bytes: tree.content_bytes,
        volatile_root: spec.volatile_root,
        root_fs_uuid: spec.root_fs_uuid.hyphenated().to_string(),
        source_date_epoch: spec.source_date_epoch,
        layout: built.layout,
    };
    // image.json must be reproducible too: it leaves out the output path.
    let mut manifest = serde_json::to_value(&report).map_err(|e| ImageError::Io {
        path: out.join("image.json"),
        source: std::io::Error::other(e),
    })?;
    if let Some(m) = manifest.as_object_mut() {
        m.remove("output");
    }
    let manifest_path = stage.path().join("image.json");
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    std::fs::write(&manifest_path, text).map_err(ImageError::io(&manifest_path))?;
    drop(tree);
    drop(work);
    let staged = stage.keep();
    if out.exists() {
        // --force: move the old output aside first so a failed rename loses nothing.
        let old = tmp("old")?.keep();
        std::fs::remove_dir(&old).map_err(ImageError::io(&old))?;
        std::fs::rename(out, &old).map_err(ImageError::io(out))?;
        std::fs::rename(&staged, out).map_err(ImageError::io(out))?;
        let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
    } else if let Err(e) = std::fs::rename(&staged, out) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(ImageError::Io {
            path: out.to_path_buf(),
            source: e,
        });
    }
    Ok(report)
}

/// For test harnesses: a raw GPT disk (Qubes layout, size guessed) holding `dir` as its
/// ext4 root partition, written into the directory `out` as `disk.img`.
pub fn raw_image_from_dir(name: &str, dir: &Path, out: &Path) -> Result<BuildReport> {
    let spec_text = format!(
        "name = {name:?}\ntype = \"raw\"\nroot = {{ directory = {:?} }}\n",
        dir.display().to_string()
    );
    let spec = ImageSpec::parse(
        &spec_text,
        Path::new("<raw_image_from_dir>"),
        Path::new("."),
    )?;
    build(&spec, out, &BuildOptions::default())
}
