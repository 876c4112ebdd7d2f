//! The definitions in other formats: `guix` writes the Guix channel's modules.

pub mod guix;
