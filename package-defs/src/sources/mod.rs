//! A definition's sources, from the network to a patched tree: `fetch` is the seam to
//! source-fetch (every download and git transfer), `verify` fetches each pin again and checks
//! commits, hashes and signatures, and `prepare` applies the Qubes series to the verified
//! upstream tree.

pub mod fetch;
pub mod prepare;
pub mod verify;
