//! content-hash: work in progress.
