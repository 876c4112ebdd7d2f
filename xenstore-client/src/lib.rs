//! xenstore-client: work in progress.
