//! source-fetch: fetch and verify upstream sources.
//!
//! - [`UrlRewrites`]: `FROM=TO` prefix rewrites (CLI and `PACKAGE_DEFS_URL_REWRITE`) applied to
//!   every URL, git and HTTP alike, so tests and mirrors work.
//! - [`Fetcher`]: HTTP downloads with timeouts, bounded retries, `Retry-After`, hashing while
//!   streaming to disk, verification against an expected sha256, and a [`DownloadCache`] keyed by
//!   sha256 (a known, cached hash does no network I/O).
//! - [`openpgp`]: pinned-key verification of detached signatures and git signed tags.
//! - [`git`]: ls-remote, shallow tag fetch into a bare-repo cache, raw tag objects, blobs, checkouts.
//! - [`archive`]: tar/gzip/xz extraction that refuses entries escaping the target.

pub mod archive;
mod cache;
pub mod git;
mod http;
pub mod openpgp;
mod url_rewrite;

pub use archive::{extract_stream, extract_tar, extract_tarball, ArchiveError, ExtractStats};
pub use cache::{CacheError, DownloadCache};
pub use content_hash::Sha256Digest;
pub use git::{BareRepo, GitClient, GitError, RemoteTag};
pub use http::{verify_file, ApiResponse, FetchError, FetchOptions, Fetched, Fetcher};
pub use openpgp::{
    verify_detached, verify_detached_file, verify_detached_reader, verify_git_tag, PgpError,
    PinnedKey, Verified,
};
pub use url_rewrite::{RewriteError, UrlRewrites, URL_REWRITE_ENV};
