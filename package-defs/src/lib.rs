//! package-defs: work in progress.
