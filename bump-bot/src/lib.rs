//! The weekend upstream-bump bot.
//!
//! A run holds the run lock (taken by the caller, kept until it has published), discovers the tags of every followed package's Qubes
//! repository, plans at most one bump per package with [`upstream_tags::plan_bump`],
//! and for each: updates the definitions in a git worktree of the bot branch,
//! runs the build gate there, and commits `xen: 4.17.4-5 -> 4.17.4-6` with the
//! update report as the body. A state file records what was seen and landed and
//! which step a package is at, so a run killed at any point is finished by the
//! next one; a package whose commit already exists is skipped. [`publish`] then pushes
//! the bump branch (never forced; a failed push is retried by the next run).
//!
//! The bot does not know how to update definitions: the caller (`package-defs
//! bot`) implements [`Packages`]. That keeps this crate below package-defs.

pub mod forge;
pub mod gitrepo;
pub mod lock;
pub mod packages;
pub mod process;
pub mod publish;
pub mod report;
pub mod run;
pub mod state;

pub use forge::{GitHubTags, GitTags, TagSource};
pub use lock::RunLock;
pub use packages::{Followed, Packages};
pub use publish::{publish, Publish, PublishError, Pushed};
pub use report::{Outcome, PackageReport, RunReport, Step};
pub use run::{hold_if_asked, run, BotConfig, BotError, BumpTrailer, BUMP_TRAILER};
