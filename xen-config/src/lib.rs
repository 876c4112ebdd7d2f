//! xen-config: work in progress.
