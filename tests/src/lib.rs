//! tests: work in progress.
