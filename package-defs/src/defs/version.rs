//! Qubes package versions: one definition for the whole workspace, in upstream-tags
//! (the bot's planner orders tags with the same type `update` checks downgrades with).

pub use upstream_tags::version::{QubesVersion, VersionError, XenVersion};
