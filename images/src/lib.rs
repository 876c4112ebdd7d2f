//! images: declarative, rootless, reproducible disk images and Qubes templates.
//!
//! An [`spec::ImageSpec`] (TOML) says what goes into an image; an image type from the
//! [`types::registry`] says what comes out (raw GPT disk, qcow2, Qubes template, tarball).
//! Everything runs unprivileged: sfdisk and `mke2fs -d` write straight into a sparse file, and
//! pinned GUIDs, hash seed and a source date make two builds byte-identical.

pub mod build;
pub mod content;
pub mod disk;
pub mod error;
pub mod layout;
pub mod size;
pub mod sparse_tar;
pub mod spec;
pub mod template;
pub mod tools;
pub mod types;

pub use build::{build, raw_image_from_dir, BuildOptions, BuildReport};
pub use error::{ImageError, Result};
pub use spec::ImageSpec;
