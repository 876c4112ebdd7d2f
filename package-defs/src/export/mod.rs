//! The definitions in other formats: `guix` writes the Guix channel's modules, into the
//! directory `channel` reads from `.guix-channel`.

pub mod channel;
pub mod guix;
