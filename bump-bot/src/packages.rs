//! What the bot needs from the package definitions, implemented by package-defs.

use std::path::Path;

use upstream_tags::{QubesVersion, Stream};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A package the bot follows, as its definition says today.
#[derive(Debug, Clone)]
pub struct Followed {
    pub package: String,
    pub current: QubesVersion,
    /// `None` when the definition pins a commit of an unmerged branch instead of a stream.
    pub stream: Option<Stream>,
    /// Where Qubes' tags for this package are listed (before URL rewriting).
    pub qubes_repo: String,
    /// Where upstream Xen's `RELEASE-x.y.z` tags are listed, to report releases Qubes
    /// has not tagged yet (`None`: not looked at).
    pub upstream_repo: Option<String>,
}

/// The definitions, seen from the bot.
pub trait Packages {
    /// The followed packages, read from the definitions in `definitions_dir`.
    fn followed(&self, definitions_dir: &Path) -> Result<Vec<Followed>, BoxError>;

    /// Updates `package` to `to` in `definitions_dir` (every affected definition,
    /// all or nothing) and returns the update report, which becomes the commit body.
    fn update(
        &self,
        definitions_dir: &Path,
        package: &str,
        to: &QubesVersion,
    ) -> Result<String, BoxError>;

    /// Paths besides the definitions folder, relative to the repository root, that an
    /// update may rewrite and that belong in the same commit (files generated from the
    /// definitions, such as a Guix channel's modules).
    fn also_commit(&self) -> Vec<String> {
        Vec::new()
    }
}
