//! What a Qubes vmm-xen tag means and when our definitions should follow it.
//!
//! - [`version`]: `4.17.4-5` = Xen 4.17.4 with Qubes packaging release 5; `-rcN`
//!   sorts before the release, numerically (rc10 after rc9).
//! - [`tag`]: `v<version>-<rel>` tags; everything else (`R4.3.0`, `mm_*`, `w_*`,
//!   `v4.1.6.1`) is not a release of the stream and is never taken.
//! - [`stream`]: a stream follows one Xen series (4.17 on Qubes' `release4.2`).
//! - [`plan`]: the newest eligible tag of a stream, landing the weekend after it
//!   was published: no downgrade, no rc over a release, nothing from another stream.

pub mod plan;
pub mod stream;
pub mod tag;
pub mod version;

pub use plan::{plan_bump, Bump, LandingPolicy, Skip};
pub use stream::Stream;
pub use tag::{PublishedTag, Tag};
pub use version::{QubesVersion, VersionError, XenVersion};
