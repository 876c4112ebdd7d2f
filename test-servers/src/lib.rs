//! test-servers: real servers on loopback for tests, with faults injected on demand.
//!
//! - [`HttpServer`]: serves bytes at paths, counts and logs requests (so a test can assert that a
//!   cached fetch did no network I/O) and misbehaves on request: 404, 429/503 with `Retry-After`,
//!   500, a connection reset mid-body, a truncated body, a stall past the client's timeout.
//! - [`git`]: repositories with commits and annotated tags signed by keys the test generates,
//!   served over smart HTTP by `git http-backend` behind [`HttpServer`].
//! - [`archive`]: real `.tar.gz` / `.tar.xz` tarballs and detached signatures.
//! - [`real`]: the real upstream repositories of `../shared/fixtures/git/` served under their
//!   real URLs ([`RealRepos`]).

pub mod archive;
pub mod git;
pub mod gpg;
pub mod http;
pub mod real;

pub use git::{GitServer, RepoBuilder};
pub use gpg::GpgKey;
pub use http::{Fault, HttpServer, Reply, RequestRecord};
pub use real::{RealRepos, REAL_REPOS};
