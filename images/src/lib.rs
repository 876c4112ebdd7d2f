//! images: work in progress.
