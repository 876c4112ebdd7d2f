//! A content-addressed download cache: `DIR/sha256/<hex>`, inserted atomically (temp file in the
//! same directory, fsync, rename) so a crash never leaves a partial entry under a real name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use content_hash::Sha256Digest;

/// A cache operation failed; names the path.
#[derive(Debug, thiserror::Error)]
#[error("download cache {path}: {source}")]
pub struct CacheError {
    /// The file or directory involved.
    pub path: PathBuf,
    /// What the OS said.
    pub source: io::Error,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct DownloadCache {
    root: PathBuf,
}

impl DownloadCache {
    /// Use (and create) `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let root = root.into();
        for d in [root.join("sha256"), root.join("tmp"), root.join("urls")] {
            fs::create_dir_all(&d).map_err(|source| CacheError {
                path: d.clone(),
                source,
            })?;
        }
        Ok(Self { root })
    }

    /// `$XDG_CACHE_HOME/qubes-xen-kit` or `~/.cache/qubes-xen-kit`.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("qubes-xen-kit");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        home.join(".cache").join("qubes-xen-kit")
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an entry with this digest lives (whether or not it exists).
    pub fn path_for(&self, digest: &Sha256Digest) -> PathBuf {
        self.root.join("sha256").join(digest.to_hex())
    }

    /// The entry's path if cached.
    pub fn get(&self, digest: &Sha256Digest) -> Option<PathBuf> {
        let p = self.path_for(digest);
        p.is_file().then_some(p)
    }

    /// A temp file inside the cache (same filesystem, so [`Self::insert`] is a rename).
    pub fn temp_file(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = self.root.join("tmp");
        tempfile::NamedTempFile::new_in(&dir).map_err(|source| CacheError { path: dir, source })
    }

    /// Move a fully written temp file whose contents hash to `digest` into place atomically.
    pub fn insert(
        &self,
        tmp: tempfile::NamedTempFile,
        digest: &Sha256Digest,
    ) -> Result<PathBuf, CacheError> {
        let dest = self.path_for(digest);
        let err = |source| CacheError {
            path: dest.clone(),
            source,
        };
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&dest).map_err(|e| err(e.error))?;
        Ok(dest)
    }

    /// Remember that `url` served content with `digest` (for callers that want to reuse a download
    /// by URL; content addressing stays the source of truth).
    pub fn record_url(&self, url: &str, digest: &Sha256Digest) -> Result<(), CacheError> {
        let p = self.url_record_path(url);
        let err = |source| CacheError {
            path: p.clone(),
            source,
        };
        let mut tmp = self.temp_file()?;
        io::Write::write_all(&mut tmp, digest.to_hex().as_bytes()).map_err(err)?;
        tmp.persist(&p).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// The digest last recorded for `url`, if its content is still cached.
    pub fn recorded_digest(&self, url: &str) -> Option<Sha256Digest> {
        let s = fs::read_to_string(self.url_record_path(url)).ok()?;
        let d = Sha256Digest::from_hex(s.trim()).ok()?;
        self.get(&d).map(|_| d)
    }

    fn url_record_path(&self, url: &str) -> PathBuf {
        self.root
            .join("urls")
            .join(Sha256Digest::of_bytes(url.as_bytes()).to_hex())
    }
}
