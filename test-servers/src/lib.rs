//! test-servers: work in progress.
