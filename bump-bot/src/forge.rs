//! Discovering tags and the day each was published.

use std::path::PathBuf;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use source_fetch::{Fetcher, GitClient};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use upstream_tags::PublishedTag;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("listing tags of {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: source_fetch::GitError,
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

/// Tags from any git server, mirrored shallow into source-fetch's bare-repo cache (the one
/// `update` fetches from; only what is new crosses the network, under the client's limits),
/// dated by the tagger (annotated) or committer date.
pub struct GitTags {
    git: GitClient,
}

impl GitTags {
    /// Lists tags through `git` (its URL rewrites, cache and limits: `--timeout`,
    /// `--git-max-time`).
    pub fn new(git: GitClient) -> GitTags {
        GitTags { git }
    }
}

impl TagSource for GitTags {
    fn tags(&self, repo_url: &str) -> Result<Vec<PublishedTag>, ForgeError> {
        let url = self.git.rewrite(repo_url);
        let fetch = |source| ForgeError::Fetch {
            url: url.clone(),
            source,
        };
        // The network step: stopped when it makes no progress, not while data flows.
        let repo = self.git.fetch_all_tags(repo_url).map_err(fetch)?;
        let listing = repo
            .for_each_tag("%(refname:strip=2)%09%(creatordate:unix)")
            .map_err(fetch)?;
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

/// Tags from GitHub's REST API. The ref listing is requested with its last ETag,
/// so an unchanged listing costs a 304 (not counted against the rate limit); each
/// tag's date is read once from its tag (or commit) object and kept, since a git
/// object never changes. A token from the environment raises the rate limit.
pub struct GitHubTags {
    fetcher: Fetcher,
    api_base: String,
    token: Option<String>,
    cache_dir: PathBuf,
}

#[derive(Clone, Serialize, Deserialize)]
struct CachedListing {
    etag: String,
    body: String,
    next: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct ApiCache {
    /// Listing URL -> its last 200: ETag, body, next page (a 304 repeats none of them).
    #[serde(default)]
    listings: BTreeMap<String, CachedListing>,
    /// Object sha -> publication day (YYYY-MM-DD).
    #[serde(default)]
    dates: BTreeMap<String, String>,
}

impl GitHubTags {
    /// `api_base` is `https://api.github.com` (rewritten by the fetcher's URL rules
    /// like every other URL); `token` usually comes from `GITHUB_TOKEN`.
    pub fn new(
        fetcher: Fetcher,
        api_base: &str,
        token: Option<String>,
        cache_dir: impl Into<PathBuf>,
    ) -> GitHubTags {
        GitHubTags {
            fetcher,
            api_base: api_base.trim_end_matches('/').to_string(),
            token,
            cache_dir: cache_dir.into(),
        }
    }

    fn cache_path(&self) -> PathBuf {
        self.cache_dir.join("github-api-cache.json")
    }

    fn load_cache(&self) -> ApiCache {
        std::fs::read(self.cache_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save_cache(&self, cache: &ApiCache, url: &str) -> Result<(), ForgeError> {
        let err = |source| ForgeError::Cache {
            url: url.to_string(),
            path: self.cache_path(),
            source,
        };
        std::fs::create_dir_all(&self.cache_dir).map_err(err)?;
        let tmp = self.cache_path().with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(cache).expect("cache serialises")).map_err(err)?;
        std::fs::rename(&tmp, self.cache_path()).map_err(err)
    }

    fn get(&self, url: &str, etag: Option<&str>) -> Result<source_fetch::ApiResponse, ForgeError> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![
            ("Accept", "application/vnd.github+json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        if let Some(e) = etag {
            headers.push(("If-None-Match", e));
        }
        self.fetcher
            .get_api(url, &headers)
            .map_err(|e| ForgeError::Api {
                url: url.to_string(),
                message: e.to_string(),
            })
    }

    fn json(url: &str, body: &[u8]) -> Result<serde_json::Value, ForgeError> {
        serde_json::from_slice(body).map_err(|e| ForgeError::Api {
            url: url.to_string(),
            message: format!("not the JSON GitHub sends: {e}"),
        })
    }

    /// The day a tag or commit object was made.
    fn object_day(&self, owner_repo: &str, sha: &str, kind: &str) -> Result<String, ForgeError> {
        let (path, field) = match kind {
            "tag" => ("tags", "tagger"),
            _ => ("commits", "committer"),
        };
        let url = format!("{}/repos/{owner_repo}/git/{path}/{sha}", self.api_base);
        let resp = self.get(&url, None)?;
        let v = Self::json(&url, &resp.body)?;
        let date = v[field]["date"].as_str().ok_or_else(|| ForgeError::Api {
            url: url.clone(),
            message: format!("no {field}.date in the answer"),
        })?;
        let t = OffsetDateTime::parse(date, &Rfc3339).map_err(|e| ForgeError::Api {
            url: url.clone(),
            message: format!("{field}.date {date:?}: {e}"),
        })?;
        Ok(t.to_offset(time::UtcOffset::UTC).date().to_string())
    }
}

/// `https://github.com/OWNER/REPO(.git)` -> `OWNER/REPO`.
pub fn github_owner_repo(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://github.com/")?;
    let rest = rest.trim_end_matches('/').trim_end_matches(".git");
    let (owner, repo) = rest.split_once('/')?;
    (!owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
        .then(|| format!("{owner}/{repo}"))
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

impl TagSource for GitHubTags {
    fn tags(&self, repo_url: &str) -> Result<Vec<PublishedTag>, ForgeError> {
        let owner_repo = github_owner_repo(repo_url).ok_or_else(|| ForgeError::Api {
            url: repo_url.to_string(),
            message:
                "not a https://github.com/OWNER/REPO URL; use the git tag source for other forges"
                    .into(),
        })?;
        let mut cache = self.load_cache();
        let mut refs: Vec<(String, String, String)> = Vec::new();
        let mut next = Some(format!(
            "{}/repos/{owner_repo}/git/matching-refs/tags/?per_page=100",
            self.api_base
        ));
        while let Some(url) = next.take() {
            let cached = cache.listings.get(&url).cloned();
            let resp = self.get(&url, cached.as_ref().map(|c| c.etag.as_str()))?;
            let body = match cached {
                Some(c) if resp.not_modified() => {
                    next = c.next;
                    c.body.into_bytes()
                }
                _ => {
                    next = resp.header("link").and_then(next_link);
                    if let Some(etag) = resp.header("etag") {
                        cache.listings.insert(
                            url.clone(),
                            CachedListing {
                                etag: etag.to_string(),
                                body: String::from_utf8_lossy(&resp.body).into_owned(),
                                next: next.clone(),
                            },
                        );
                    }
                    resp.body.clone()
                }
            };
            let v = Self::json(&url, &body)?;
            let list = v.as_array().ok_or_else(|| ForgeError::Api {
                url: url.clone(),
                message: "expected a JSON array of refs".into(),
            })?;
            for r in list {
                let (Some(name), Some(sha), Some(kind)) = (
                    r["ref"].as_str().and_then(|n| n.strip_prefix("refs/tags/")),
                    r["object"]["sha"].as_str(),
                    r["object"]["type"].as_str(),
                ) else {
                    return Err(ForgeError::Api {
                        url: url.clone(),
                        message: format!("unexpected ref entry {r}"),
                    });
                };
                refs.push((name.to_string(), sha.to_string(), kind.to_string()));
            }
        }
        let mut out = Vec::with_capacity(refs.len());
        for (name, sha, kind) in refs {
            let day = match cache.dates.get(&sha) {
                Some(d) => d.clone(),
                None => {
                    let d = self.object_day(&owner_repo, &sha, &kind)?;
                    cache.dates.insert(sha.clone(), d.clone());
                    d
                }
            };
            let published = time::Date::parse(
                &day,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|e| ForgeError::Api {
                url: repo_url.to_string(),
                message: format!("cached date {day:?}: {e}"),
            })?;
            out.push(PublishedTag { name, published });
        }
        self.save_cache(&cache, repo_url)?;
        Ok(out)
    }
}
