//! The seam to the network layer (`source-fetch`): everything `update`, `verify` and `prepare`
//! fetch goes through [`Sources`], so those commands stay independent of transport details.

use std::path::{Path, PathBuf};

use source_fetch::PinnedKey;

use crate::defs::load::key_path;
use crate::defs::model::Origin;
use crate::update::{Fetched, Target};

/// Verified fetching of trees. Implementations apply URL rewrites, timeouts, retries and the
/// cache; they must only return trees whose signature checked out against `keys`.
pub trait Sources {
    /// Exports `repo` at annotated tag `tag` into the empty folder `dest` (no `.git`) after
    /// verifying the tag's OpenPGP signature against `keys` and that the signed tag object is
    /// named `tag` and names the commit the ref resolves to; returns that commit id.
    fn signed_tag_tree(
        &self,
        repo: &str,
        tag: &str,
        keys: &[PinnedKey],
        dest: &Path,
    ) -> anyhow::Result<String>;

    /// Downloads the release tarball `url` and its detached signature `sig_url`, checks the
    /// sha256 against `expected` (hex) when given and the signature against `keys`; returns
    /// the tarball's sha256 (hex).
    fn signed_tarball(
        &self,
        url: &str,
        sig_url: &str,
        expected: Option<&str>,
        keys: &[PinnedKey],
    ) -> anyhow::Result<String>;

    /// Exports commit `commit` of `repo` into the empty folder `dest` (no `.git`). There is
    /// no signature to check: only for commits of unmerged branches, pinned by id.
    fn commit_tree(&self, repo: &str, commit: &str, dest: &Path) -> anyhow::Result<()>;

    /// As [`Sources::signed_tarball`], and unpacks the tarball into the empty folder `dest`
    /// (refusing entries that would land outside it). Only a tarball whose signature checked
    /// out is returned; the tree's root is its single top-level folder (`xen-4.17.5/`).
    fn signed_tarball_tree(
        &self,
        url: &str,
        sig_url: &str,
        expected: Option<&str>,
        keys: &[PinnedKey],
        dest: &Path,
    ) -> anyhow::Result<TarballTree>;

    /// Whether `commit` is on `branch` of `repo` (the branch head or an ancestor of it).
    fn on_branch(&self, repo: &str, branch: &str, commit: &str) -> anyhow::Result<bool> {
        let _ = commit;
        anyhow::bail!("{repo}: this source cannot tell what branch {branch} holds")
    }

    /// When `repo`'s annotated `tag` was made (its tagger date), or without a tag when
    /// `commit` was committed; seconds since the epoch. The build's SOURCE_DATE_EPOCH.
    fn source_date(&self, repo: &str, tag: Option<&str>, commit: &str) -> anyhow::Result<i64> {
        let _ = (tag, commit);
        anyhow::bail!("{repo}: this source cannot tell when a tag or commit was made")
    }
}

/// A verified, unpacked release tarball.
#[derive(Debug, Clone)]
pub struct TarballTree {
    /// sha256 of the tarball file (hex).
    pub sha256: String,
    /// The unpacked tree: the archive's single top-level folder, else `dest` itself.
    pub root: PathBuf,
}

/// Loads the pinned keys, checking each file holds the fingerprint it is named after (which
/// is what lets the Xen key's SHA-1 self-signatures count; see `source_fetch::trust`).
pub fn pinned_keys(
    dir: &Path,
    fingerprints: &[String],
) -> Result<Vec<PinnedKey>, source_fetch::PgpError> {
    fingerprints
        .iter()
        .map(|f| PinnedKey::pinned_file(&key_path(dir, f), f))
        .collect()
}

/// How Qubes data is pinned: a signed tag, or (for a stream following a commit of an
/// unmerged branch, which carries no tag) the commit id alone.
#[derive(Debug, Clone, Copy)]
pub enum DataRef<'a> {
    Tag(&'a str),
    Commit(&'a str),
}

impl<'a> DataRef<'a> {
    /// The pin a data package records.
    pub fn of(s: &'a crate::defs::model::DataSource) -> Self {
        match &s.tag {
            Some(tag) => DataRef::Tag(tag),
            None => DataRef::Commit(&s.commit),
        }
    }
}

impl std::fmt::Display for DataRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataRef::Tag(t) => write!(f, "tag {t}"),
            DataRef::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// Exports Qubes data at `r` into `dest`; returns its commit. A tag's signature is checked
/// against `keys`; a bare commit has none to check (git still checks the objects against
/// their ids), which is said in a warning every time.
pub fn data_tree(
    sources: &dyn Sources,
    repo: &str,
    r: DataRef<'_>,
    keys: &[PinnedKey],
    dest: &Path,
) -> anyhow::Result<String> {
    match r {
        DataRef::Tag(tag) => sources.signed_tag_tree(repo, tag, keys, dest),
        DataRef::Commit(c) => {
            tracing::warn!(
                "Qubes data at commit {c} of {repo} is not signed (a commit of an unmerged branch carries no signed tag): pinned by commit id only"
            );
            sources.commit_tree(repo, c, dest)?;
            Ok(c.to_string())
        }
    }
}

/// The version and rel commit `commit` of `repo` carries in its `version` and `rel` files
/// (what `update --commit` moves to).
pub fn version_at_commit(
    repo: &str,
    commit: &str,
    sources: &dyn Sources,
    work: &Path,
) -> anyhow::Result<crate::defs::version::QubesVersion> {
    let dest = work.join("qubes-probe");
    sources.commit_tree(repo, commit, &dest)?;
    Ok(crate::defs::spec::read_tree(&dest)?.version)
}

/// Fetches and verifies everything an update of `t` needs into `work`: the Qubes data at the
/// new tag, at the pinned tag (for diffs), and upstream Xen at the release tag.
pub fn fetch_for_update(
    dir: &Path,
    t: &Target<'_>,
    sources: &dyn Sources,
    work: &Path,
    with_tarball: bool,
) -> anyhow::Result<Fetched> {
    use anyhow::Context;
    let qubes_keys = pinned_keys(dir, &t.data.source.signing_keys)?;
    let xen_keys = pinned_keys(dir, &t.xen.upstream.signing_keys)?;
    let new_dir = work.join("qubes-new");
    let tag = t.version.tag();
    let new_ref = match &t.commit {
        Some(c) => DataRef::Commit(c),
        None => DataRef::Tag(&tag),
    };
    let qubes_commit = data_tree(sources, &t.xen.stream.repo, new_ref, &qubes_keys, &new_dir)
        .with_context(|| format!("Qubes data {new_ref} from {}", t.xen.stream.repo))?;
    // The old tree only feeds the report; an unreachable old pin is not fatal.
    let old_dir = work.join("qubes-old");
    let old_ref = DataRef::of(&t.data.source);
    let old_qubes_dir =
        match data_tree(sources, &t.data.source.repo, old_ref, &qubes_keys, &old_dir) {
            Ok(c) if c == t.data.source.commit => Some(old_dir),
            Ok(c) => {
                tracing::warn!(
                    "pinned {old_ref} now points at {c}, not the pinned {}; config diff skipped",
                    t.data.source.commit
                );
                None
            }
            Err(e) => {
                tracing::warn!("cannot fetch the pinned {old_ref} for the report: {e:#}");
                None
            }
        };
    let up_tag = t.version.xen.upstream_tag();
    let up_dir = work.join("upstream");
    let (url, sig) = crate::update::tarball_urls(t);
    let tarball_context = || format!("upstream Xen release tarball {url}");
    let (upstream_dir, upstream_commit, tarball_sha256) = match t.xen.upstream.origin {
        Origin::Git => {
            let commit = sources
                .signed_tag_tree(&t.xen.upstream.git, &up_tag, &xen_keys, &up_dir)
                .with_context(|| format!("upstream Xen {up_tag} from {}", t.xen.upstream.git))?;
            let sha = if with_tarball {
                Some(
                    sources
                        .signed_tarball(&url, &sig, None, &xen_keys)
                        .with_context(tarball_context)?,
                )
            } else {
                tracing::warn!("release tarball not fetched: its sha256 stays unpinned");
                None
            };
            (up_dir, Some(commit), sha)
        }
        // The tarball is the origin: no git fetch at all (that is the point of this origin:
        // one download, hashed while it streams in, checked against its .sig).
        Origin::Tarball => {
            if !with_tarball {
                tracing::warn!(
                    "--skip-tarball does not apply to {}: the release tarball is its upstream origin (`upstream.origin`)",
                    t.xen_pkg.name
                );
            }
            let tree = sources
                .signed_tarball_tree(&url, &sig, None, &xen_keys, &up_dir)
                .with_context(tarball_context)?;
            (tree.root, None, Some(tree.sha256))
        }
    };
    // A signature binds bytes, not the name they were served under: the tree itself must say
    // it is the release asked for (a replayed tag or renamed tarball of another release).
    let found = crate::update::read_xen_version(&upstream_dir)?;
    let expected = crate::update::makefile_version(&t.version.xen);
    if found != expected {
        let (place, source) = match upstream_commit {
            Some(_) => (format!("tag {up_tag}"), t.xen.upstream.git.as_str()),
            None => ("release tarball".to_string(), url.as_str()),
        };
        anyhow::bail!("upstream Xen {place} from {source}: its xen/Makefile says Xen {found}, but {expected} was asked for: the server serves another release under this name (a stale or compromised mirror); refusing it");
    }
    Ok(Fetched {
        qubes_dir: new_dir,
        qubes_commit,
        old_qubes_dir,
        upstream_dir,
        upstream_commit,
        tarball_sha256,
    })
}

/// [`Sources`] over `source-fetch`'s git client: fetch the tag (cached bare repos; a cached tag
/// costs no network I/O), verify its signature with the pinned keys, export the tree.
pub struct GitSources {
    pub git: source_fetch::GitClient,
    pub http: source_fetch::Fetcher,
}

impl GitSources {
    /// Caches under `cache_root`; `rewrites` apply to every URL; git commands and HTTP reads
    /// stop after `timeout` without progress; `quiet` hides download progress.
    pub fn new(
        cache_root: &Path,
        rewrites: source_fetch::UrlRewrites,
        timeout: std::time::Duration,
        quiet: bool,
    ) -> anyhow::Result<Self> {
        let git = source_fetch::GitClient::new(cache_root, rewrites.clone(), timeout)?
            .with_progress(!quiet);
        let opts = source_fetch::FetchOptions {
            read_timeout: timeout,
            quiet,
            rewrites,
            ..Default::default()
        };
        let cache = source_fetch::DownloadCache::open(cache_root.join("files"))?;
        Ok(Self {
            git,
            http: source_fetch::Fetcher::new(opts, cache)?,
        })
    }

    /// Caps any one git command at `total` in all (`--git-max-time`), even while data flows.
    pub fn git_max_time(mut self, total: std::time::Duration) -> Self {
        self.git = self.git.with_total(total);
        self
    }

    /// Fetches `url`, reusing the copy recorded for it when no hash is pinned (release files
    /// are immutable), so a repeated update does no network I/O.
    fn fetch(
        &self,
        url: &str,
        expected: Option<&source_fetch::Sha256Digest>,
    ) -> anyhow::Result<source_fetch::Fetched> {
        let recorded = self.http.cache().recorded_digest(&self.http.rewrite(url));
        let exp = expected.copied().or(recorded);
        Ok(self.http.fetch(url, exp.as_ref())?)
    }
}

impl GitSources {
    /// Downloads `sig_url` and `url` (hashing while the bytes stream in), then checks the
    /// signature and, with `unpack`, unpacks the tarball there: one after the other when no
    /// sha256 is pinned; side by side when the pin was checked while the bytes streamed in.
    /// Nothing is returned unless the signature checked out.
    fn tarball_checked(
        &self,
        url: &str,
        sig_url: &str,
        expected: Option<&str>,
        keys: &[PinnedKey],
        unpack: Option<&Path>,
    ) -> anyhow::Result<TarballTree> {
        let expected = expected
            .map(source_fetch::Sha256Digest::from_hex)
            .transpose()?;
        // Copies reused by URL were recorded when downloaded, before any check: when they do
        // not verify (say a bad `.sig` the server has since fixed), download both once more
        // instead of failing on stale bytes forever.
        for fresh in [false, true] {
            let get = |u: &str, exp: Option<&source_fetch::Sha256Digest>| {
                if fresh {
                    Ok(self.http.fetch(u, exp)?)
                } else {
                    self.fetch(u, exp)
                }
            };
            let sig = get(sig_url, None)?;
            let tarball = get(url, expected.as_ref())?;
            let sig_bytes = std::fs::read(&sig.path)?;
            let (path, shown) = (&tarball.path, tarball.url.as_str());
            let unpack_into = |dest: &Path| -> anyhow::Result<PathBuf> {
                if dest.exists() {
                    std::fs::remove_dir_all(dest)?;
                }
                source_fetch::extract_tarball(path, dest).map_err(|e| {
                    // Name the URL, not the cache file the bytes sit in.
                    anyhow::anyhow!("{shown}: {e}")
                })?;
                Ok(tree_root(dest))
            };
            let verify = || source_fetch::openpgp::verify_detached_file(path, &sig_bytes, keys);
            let (verified, unpacked) = if expected.is_some() {
                // Pinned: the bytes were checked against the pin as they streamed in, so the
                // signature check and unpacking can share the read.
                std::thread::scope(|s| {
                    let unpacking = unpack.map(|dest| s.spawn(move || unpack_into(dest)));
                    let verified = verify();
                    let unpacked = unpacking.map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("unpacking {shown} panicked")))
                    });
                    (verified, unpacked)
                })
            } else {
                // Not pinned: no decompressor or tar parser sees bytes before their
                // signature checked out.
                let verified = verify();
                let unpacked = match (&verified, unpack) {
                    (Ok(_), Some(dest)) => Some(unpack_into(dest)),
                    _ => None,
                };
                (verified, unpacked)
            };
            match verified {
                Ok(_) => {
                    // Without `unpack` there is no tree (the root stays empty).
                    let root = unpacked.transpose()?.unwrap_or_default();
                    return Ok(TarballTree {
                        sha256: tarball.sha256.to_hex(),
                        root,
                    });
                }
                Err(e) if !fresh && (sig.from_cache || tarball.from_cache) => {
                    tracing::warn!(
                        "{} (signature {}): cached copies do not verify ({e}); downloading again",
                        tarball.url,
                        sig.url
                    );
                }
                Err(e) => {
                    anyhow::bail!("{} (signature {}): {e}", tarball.url, sig.url)
                }
            }
        }
        unreachable!("the second pass downloads afresh and returns")
    }
}

/// A release tarball holds one top-level folder (`xen-4.17.5/`); that folder is the tree.
fn tree_root(dest: &Path) -> PathBuf {
    let mut entries = std::fs::read_dir(dest)
        .into_iter()
        .flatten()
        .filter_map(Result::ok);
    match (entries.next(), entries.next()) {
        (Some(only), None) if only.file_type().is_ok_and(|t| t.is_dir()) => only.path(),
        _ => dest.to_path_buf(),
    }
}

impl Sources for GitSources {
    fn signed_tag_tree(
        &self,
        repo: &str,
        tag: &str,
        keys: &[PinnedKey],
        dest: &Path,
    ) -> anyhow::Result<String> {
        let bare = self.git.fetch_tag(repo, tag, None)?;
        let raw = bare.raw_tag_object(tag)?;
        let what = format!("tag {tag} of {}", self.git.rewrite(repo));
        let commit = bare.resolve_tag(tag)?;
        // The signature, and that the signed object is the tag asked for and names this commit.
        if let Err(e) = source_fetch::verify_signed_tag(&raw, tag, &commit, keys, &what) {
            // A refused tag must not stay cached: once the server is fixed, a rerun fetches it
            // again.
            if let Err(f) = bare.forget_tag(tag) {
                tracing::warn!("cannot drop the refused tag {tag} from the cache: {f}");
            }
            return Err(e.into());
        }
        bare.checkout_tree(&commit, dest)?;
        Ok(commit)
    }

    fn on_branch(&self, repo: &str, branch: &str, commit: &str) -> anyhow::Result<bool> {
        Ok(self.git.branch_contains(repo, branch, commit)?)
    }

    fn commit_tree(&self, repo: &str, commit: &str, dest: &Path) -> anyhow::Result<()> {
        let bare = self.git.fetch_commit(repo, commit)?;
        bare.checkout_tree(commit, dest)?;
        Ok(())
    }

    fn signed_tarball(
        &self,
        url: &str,
        sig_url: &str,
        expected: Option<&str>,
        keys: &[PinnedKey],
    ) -> anyhow::Result<String> {
        Ok(self
            .tarball_checked(url, sig_url, expected, keys, None)?
            .sha256)
    }

    fn signed_tarball_tree(
        &self,
        url: &str,
        sig_url: &str,
        expected: Option<&str>,
        keys: &[PinnedKey],
        dest: &Path,
    ) -> anyhow::Result<TarballTree> {
        self.tarball_checked(url, sig_url, expected, keys, Some(dest))
    }

    fn source_date(&self, repo: &str, tag: Option<&str>, commit: &str) -> anyhow::Result<i64> {
        let Some(tag) = tag else {
            let bare = self.git.fetch_commit(repo, commit)?;
            let raw = bare.raw_commit_object(commit)?;
            return signature_time(&String::from_utf8_lossy(&raw), "committer ").ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: commit {commit} has no parsable `committer` line",
                    bare.url()
                )
            });
        };
        // The tag was fetched (and its signature checked) already: the cache answers. Its
        // date counts only if it is the tag of `commit`.
        let bare = self.git.fetch_tag(repo, tag, None)?;
        let raw = bare.raw_tag_object(tag)?;
        let t = source_fetch::TagObject::parse(&raw)
            .map_err(|e| anyhow::anyhow!("{}: tag {tag}: {e}", bare.url()))?;
        anyhow::ensure!(
            t.object == commit,
            "{}: tag {tag} names {}, expected the pinned commit {commit}",
            bare.url(),
            t.object
        );
        t.tagger
            .and_then(|l| l.rsplit(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!("{}: tag {tag} has no parsable `tagger` line", bare.url())
            })
    }
}

/// Seconds since the epoch of the `field` line (`tagger`/`committer`) of a raw git object's
/// header: `<field>Name <mail> 1781006553 +0200`.
pub fn signature_time(raw: &str, field: &str) -> Option<i64> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(field))
        .and_then(|l| l.rsplit(' ').nth(1))
        .and_then(|t| t.parse().ok())
}
