//! Declarative pins of Qubes OS's Xen packages, and the tooling that keeps them current.
//!
//! `load` reads and validates a definitions folder, `spec` reads Qubes' packaging tree,
//! `update` plans a version bump (and `pipeline` runs one, for the CLI and the bot), `edit` rewrites files in place and `txn` swaps them in
//! atomically; `guix` exports a Guix channel module; `bot` runs the weekend bump bot on them;
//! `reconcile` hands a definition and its prepared tree to xen-config; `vm_series` reads the
//! VM-side patch series from Qubes' Arch recipe; `build` builds Xen (or, in vm mode, its guest
//! libraries) and `bundle` packs a vm build as a tarball for templates.

pub mod bot;
pub mod build;
pub mod bundle;
pub mod component;
pub mod edit;
pub mod fetch;
mod fsutil;
pub mod fuzzing;
pub mod guix;
pub mod load;
pub mod model;
pub mod pipeline;
pub mod prepare;
pub mod reconcile;
pub mod spec;
pub mod txn;
pub mod update;
pub mod verify;
pub mod version;
pub mod vm_series;

pub use load::{load_dir, LoadError, Problem};
pub use model::*;
pub use version::{QubesVersion, XenVersion};
