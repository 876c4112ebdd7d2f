//! Discovering tags and the day each was published.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use upstream_tags::PublishedTag;

use crate::process::{self, CommandError};

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("listing tags of {url}: {source}")]
    Git {
        url: String,
        #[source]
        source: CommandError,
    },
    #[error("listing tags of {url}: cannot create cache {path}: {source}")]
    Cache {
        url: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listing tags of {url}: unexpected line {line:?} from git for-each-ref")]
    Parse { url: String, line: String },
    #[error("listing tags of {url}: {message}")]
    Api { url: String, message: String },
}

/// Lists a repository's tags with their publication day.
pub trait TagSource {
    fn tags(&self, repo_url: &str) -> Result<Vec<PublishedTag>, ForgeError>;
}

/// Rewrites a URL before use (mirrors, loopback test servers); shared with `update`.
pub type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Tags from any git server: fetched into a bare cache repository (only what is
/// new crosses the network), dated by the tagger (annotated) or committer date.
pub struct GitTags {
    cache_dir: PathBuf,
    rewrite: Rewrite,
    timeout: Duration,
}

impl GitTags {
    pub fn new(cache_dir: impl Into<PathBuf>, rewrite: Rewrite) -> GitTags {
        GitTags {
            cache_dir: cache_dir.into(),
            rewrite,
            timeout: Duration::from_secs(300),
        }
    }

    fn repo_dir(&self, url: &str) -> PathBuf {
        let safe: String = url
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.cache_dir.join(safe)
    }

    fn git(&self, dir: &Path, args: &[&str], url: &str) -> Result<String, ForgeError> {
        let mut cmd = Command::new("git");
        cmd.args(args).env("GIT_TERMINAL_PROMPT", "0");
        process::run(cmd, dir, self.timeout).map_err(|source| ForgeError::Git {
            url: url.to_string(),
            source,
        })
    }
}

impl TagSource for GitTags {
    fn tags(&self, repo_url: &str) -> Result<Vec<PublishedTag>, ForgeError> {
        let url = (self.rewrite)(repo_url);
        let dir = self.repo_dir(&url);
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|source| ForgeError::Cache {
                url: url.clone(),
                path: dir.clone(),
                source,
            })?;
            self.git(&dir, &["init", "--quiet", "--bare"], &url)?;
        }
        self.git(
            &dir,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                "--no-tags",
                &url,
                "+refs/tags/*:refs/tags/*",
            ],
            &url,
        )?;
        let listing = self.git(
            &dir,
            &[
                "for-each-ref",
                "--format=%(refname:strip=2)%09%(creatordate:unix)",
                "refs/tags",
            ],
            &url,
        )?;
        listing
            .lines()
            .filter(|l| !l.is_empty())
            .map(|line| {
                let parsed = line.split_once('\t').and_then(|(name, secs)| {
                    let t = OffsetDateTime::from_unix_timestamp(secs.parse().ok()?).ok()?;
                    Some(PublishedTag {
                        name: name.to_string(),
                        published: t.date(),
                    })
                });
                parsed.ok_or_else(|| ForgeError::Parse {
                    url: url.clone(),
                    line: line.to_string(),
                })
            })
            .collect()
    }
}
