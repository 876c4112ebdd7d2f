//! Declarative pins of Qubes OS's Xen packages, and the tooling that keeps them current.
//!
//! The modules follow the pipeline, in order:
//!
//! - `defs`: the definitions model (`model`, `version`), `load` (read and validate a folder),
//!   `edit` and `txn` (rewrite files in place, swap them in atomically), and the readers of
//!   Qubes' packaging tree (`spec`, `vm_series`); `show` is a package as text;
//! - `sources`: `fetch` (the seam to source-fetch), `verify` (fetch every pin again and
//!   compare) and `prepare` (the patched, configured tree);
//! - `update`: plan a version bump (`read`, `hash`, `compare`, `write`, `report`), and
//!   `update::pipeline` runs one for the CLI and the bot;
//! - `reconcile`: hands a definition and its prepared tree to xen-config;
//! - `build`: builds Xen (full or hypervisor-only), or in vm mode its guest libraries
//!   (`build::vm`);
//! - `bundle`: packs a vm build as a tarball for templates;
//! - `export`: `export::guix` writes the Guix channel's modules;
//! - `bot`: the weekend bump bot on these definitions;
//! - `component`: Qubes' guest components (`definitions/components/`): their definitions,
//!   verified fetch (signed tag bound to component, version and branch), `verify` and `update`.
//!
//! The `package-defs` binary is `main.rs` (parsing, dispatch) and one module per command
//! under `commands/`, each a thin layer of arguments and printing over these modules.

pub mod bot;
pub mod build;
pub mod bundle;
pub mod component;
pub mod defs;
pub mod export;
mod fsutil;
pub mod fuzzing;
pub mod reconcile;
pub mod sources;
pub mod update;

pub use defs::load::{load_dir, LoadError, Problem};
pub use defs::model::*;
pub use defs::version::{QubesVersion, XenVersion};
