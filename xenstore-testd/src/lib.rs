//! xenstore-testd: work in progress.
