//! Which tag a stream should bump to on a given day.
//!
//! A tag lands on the first landing day (Saturday by default) after the day it
//! was published, so a Qubes tag cut during the week is in our definitions that
//! weekend, and one cut on the weekend waits a week. Of the landed tags in the
//! stream, the newest wins; a bump is only ever forward, and a release
//! candidate never replaces a release.

use time::{Date, Weekday};

use crate::stream::Stream;
use crate::tag::PublishedTag;
use crate::version::QubesVersion;

/// When published tags become eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LandingPolicy {
    pub landing_day: Weekday,
}

impl Default for LandingPolicy {
    fn default() -> Self {
        LandingPolicy {
            landing_day: Weekday::Saturday,
        }
    }
}

impl LandingPolicy {
    /// The first landing day strictly after `published`.
    pub fn lands_on(&self, published: Date) -> Date {
        published.next_occurrence(self.landing_day)
    }
}

/// A planned bump.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bump {
    pub from: QubesVersion,
    pub to: QubesVersion,
    pub tag: String,
    /// Only the packaging release changed (a new patch, often an XSA).
    pub rel_only: bool,
}

/// Why nothing is planned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Skip {
    /// No landed tag of the stream is newer than what is pinned.
    UpToDate,
    /// A newer tag exists but lands later.
    NotYetLanded { tag: String, lands_on: String },
}

/// The bump for `stream`, pinned at `current`, on day `today`, given every tag the
/// forge lists (those dated after `today` are ignored). Tags of other series, unversioned tags, older tags and (when the
/// pin is a release) release candidates are never chosen.
pub fn plan_bump(
    stream: &Stream,
    current: &QubesVersion,
    tags: &[PublishedTag],
    today: Date,
    policy: &LandingPolicy,
) -> Result<Bump, Skip> {
    // A tag dated after `today` does not exist yet (replays list the whole history).
    let candidates = tags
        .iter()
        .filter(|t| t.published <= today)
        .filter_map(|t| {
            let v = t.tag().version()?.clone();
            let eligible = stream.contains(&v) && v > *current && (current.is_rc() || !v.is_rc());
            eligible.then_some((v, t))
        });
    let (landed, waiting): (Vec<_>, Vec<_>) =
        candidates.partition(|(_, t)| policy.lands_on(t.published) <= today);
    match landed.into_iter().max_by(|a, b| a.0.cmp(&b.0)) {
        Some((to, t)) => Ok(Bump {
            rel_only: to.same_xen(current),
            from: current.clone(),
            tag: t.name.clone(),
            to,
        }),
        None => match waiting.into_iter().min_by_key(|(_, t)| t.published) {
            Some((_, t)) => Err(Skip::NotYetLanded {
                tag: t.name.clone(),
                lands_on: policy.lands_on(t.published).to_string(),
            }),
            None => Err(Skip::UpToDate),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn tag(name: &str, published: Date) -> PublishedTag {
        PublishedTag {
            name: name.into(),
            published,
        }
    }

    fn stable() -> Stream {
        Stream::new("release4.2", "4.17").unwrap()
    }

    #[test]
    fn a_weekday_tag_lands_that_saturday_and_a_weekend_tag_the_next() {
        let p = LandingPolicy::default();
        assert_eq!(p.lands_on(date!(2026 - 06 - 09)), date!(2026 - 06 - 13)); // Tue -> Sat
        assert_eq!(p.lands_on(date!(2026 - 06 - 13)), date!(2026 - 06 - 20)); // Sat -> next Sat
        assert_eq!(p.lands_on(date!(2026 - 06 - 14)), date!(2026 - 06 - 20)); // Sun -> Sat
        let monday = LandingPolicy {
            landing_day: Weekday::Monday,
        };
        assert_eq!(
            monday.lands_on(date!(2026 - 06 - 13)),
            date!(2026 - 06 - 15)
        );
    }

    #[test]
    fn takes_the_newest_landed_tag_of_the_stream_only() {
        let tags = [
            tag("v4.17.6-5", date!(2026 - 05 - 12)),
            tag("v4.19.4-9", date!(2026 - 06 - 09)),
            tag("v4.17.6-6", date!(2026 - 06 - 09)),
            tag("mm_c36b6005", date!(2026 - 06 - 10)),
            tag("v4.17.7-1", date!(2026 - 06 - 13)),
        ];
        let current: QubesVersion = "4.17.6-4".parse().unwrap();
        let bump = plan_bump(
            &stable(),
            &current,
            &tags,
            date!(2026 - 06 - 13),
            &LandingPolicy::default(),
        )
        .unwrap();
        assert_eq!(bump.to.to_string(), "4.17.6-6");
        assert!(bump.rel_only);
        let later = plan_bump(
            &stable(),
            &bump.to,
            &tags,
            date!(2026 - 06 - 13),
            &LandingPolicy::default(),
        );
        assert_eq!(
            later,
            Err(Skip::NotYetLanded {
                tag: "v4.17.7-1".into(),
                lands_on: "2026-06-20".into()
            })
        );
        let next = plan_bump(
            &stable(),
            &bump.to,
            &tags,
            date!(2026 - 06 - 20),
            &LandingPolicy::default(),
        )
        .unwrap();
        assert!(!next.rel_only);
    }

    #[test]
    fn never_downgrades_and_never_puts_an_rc_over_a_release() {
        let tags = [
            tag("v4.17.0-rc3-1", date!(2022 - 12 - 01)),
            tag("v4.17.0-1", date!(2022 - 12 - 20)),
            tag("v4.17.1-rc1-1", date!(2023 - 01 - 02)),
            tag("v4.17.0-2", date!(2023 - 01 - 03)),
        ];
        let today = date!(2023 - 02 - 01);
        let p = LandingPolicy::default();
        let rc: QubesVersion = "4.17.0-rc3-1".parse().unwrap();
        // From an rc, releases and newer rcs are fine: the newest wins.
        assert_eq!(
            plan_bump(&stable(), &rc, &tags, today, &p)
                .unwrap()
                .to
                .to_string(),
            "4.17.1-rc1-1"
        );
        // From a release, the rc is never taken, even though it is newer.
        let rel: QubesVersion = "4.17.0-1".parse().unwrap();
        assert_eq!(
            plan_bump(&stable(), &rel, &tags, today, &p)
                .unwrap()
                .to
                .to_string(),
            "4.17.0-2"
        );
        let newest: QubesVersion = "4.17.0-2".parse().unwrap();
        assert_eq!(
            plan_bump(&stable(), &newest, &tags, today, &p),
            Err(Skip::UpToDate)
        );
        let ahead: QubesVersion = "4.17.5-1".parse().unwrap();
        assert_eq!(
            plan_bump(&stable(), &ahead, &tags, today, &p),
            Err(Skip::UpToDate)
        );
    }
}
