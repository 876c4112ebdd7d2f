//! content-hash: sha256 digests in every notation the project meets (hex, Nix/Guix base32, SRI),
//! computed in one streaming pass while data is copied, and NAR hashes of directory trees equal to
//! `nix-hash --type sha256 --base32 PATH`.
//!
//! ```
//! use content_hash::Sha256Digest;
//! let d = Sha256Digest::of_bytes(b"hello");
//! assert_eq!(d.to_string(), d.to_hex());
//! assert_eq!(Sha256Digest::parse(&d.to_nix_base32()).unwrap(), d);
//! assert_eq!(Sha256Digest::parse(&d.to_sri()).unwrap(), d);
//! ```

mod digest;
mod nar;
mod nix_base32;
mod stream;

pub use digest::{DigestParseError, Sha256Digest};
pub use nar::{nar_hash, write_nar, NarError};
pub use stream::{hash_file, hash_reader, HashingReader, HashingWriter, Sha256Hasher};
