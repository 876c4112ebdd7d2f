//! source-fetch: work in progress.
