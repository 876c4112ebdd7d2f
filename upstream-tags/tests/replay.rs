//! Replays Qubes' real vmm-xen tag history (../shared/fixtures/qubes-vmm-xen/tags.tsv,
//! 710 tags) weekend by weekend for the two streams our definitions follow, and
//! checks every weekend against an oracle written from the table's own version
//! and rel columns: the bump is to the newest tag of the stream published before
//! that weekend, and nothing else happens.

#[path = "support/oracle.rs"]
mod oracle;

use oracle::{oracle_key, rows, Row};
use time::macros::date;
use time::{Duration, Weekday};
use upstream_tags::{plan_bump, LandingPolicy, PublishedTag, QubesVersion, Skip, Stream};

#[test]
fn every_weekend_bumps_each_stream_to_the_newest_tag_published_before_it() {
    let rows = rows();
    assert_eq!(rows.len(), 710, "tags.tsv should list 710 tags");
    let tags: Vec<PublishedTag> = rows
        .iter()
        .map(|r| PublishedTag {
            name: r.tag.clone(),
            published: r.date,
        })
        .collect();
    let policy = LandingPolicy::default();
    let mut finals = Vec::new();

    for (branch, series, nums) in [
        ("release4.2", "4.17", [4u64, 17]),
        ("main", "4.19", [4, 19]),
    ] {
        let stream = Stream::new(branch, series).unwrap();
        let in_series: Vec<&Row> = rows
            .iter()
            .filter(|r| oracle_key(r).is_some_and(|k| k.0[..2] == nums))
            .collect();
        let first = in_series
            .iter()
            .min_by_key(|r| r.date)
            .expect("stream has tags");
        let mut current: QubesVersion = format!("{}-{}", first.version, first.rel).parse().unwrap();
        let mut current_key = oracle_key(first).unwrap();
        let mut weekend = first.date.next_occurrence(Weekday::Saturday);
        let end = in_series.iter().map(|r| r.date).max().unwrap() + Duration::weeks(2);
        let (mut bumps, mut weekends) = (0, 0);

        while weekend <= end {
            weekends += 1;
            let expected = in_series
                .iter()
                .filter(|r| r.date < weekend)
                .filter_map(|r| oracle_key(r).map(|k| (k, *r)))
                .filter(|(k, _)| *k > current_key && (current_key.1 == 0 || k.1 == 1))
                .max_by(|a, b| a.0.cmp(&b.0));
            let tagged_this_week = in_series
                .iter()
                .any(|r| r.date < weekend && r.date >= weekend - Duration::weeks(1));
            match (
                plan_bump(&stream, &current, &tags, weekend, &policy),
                expected,
            ) {
                (Ok(bump), Some((key, row))) => {
                    assert_eq!(bump.tag, row.tag, "{series} on {weekend}");
                    assert!(bump.to > current, "downgrade on {weekend}");
                    assert!(stream.contains(&bump.to));
                    assert!(
                        tagged_this_week,
                        "{weekend}: bump to {} though nothing new was tagged",
                        bump.tag
                    );
                    current = bump.to;
                    current_key = key;
                    bumps += 1;
                }
                (Err(Skip::UpToDate | Skip::NotYetLanded { .. }), None) => {}
                (got, want) => panic!(
                    "{series} on {weekend} from {current}: planned {got:?}, oracle {:?}",
                    want.map(|(_, r)| &r.tag)
                ),
            }
            weekend += Duration::weeks(1);
        }
        assert!(
            bumps > 10 && weekends > bumps,
            "{series}: {bumps} bumps in {weekends} weekends"
        );
        finals.push(current.to_string());
    }
    // The newest tags of each stream in the table.
    assert_eq!(finals, ["4.17.6-6", "4.19.5-1"]);
}

#[test]
fn the_weekend_after_2026_06_09_bumps_both_streams() {
    let rows = rows();
    let tags: Vec<PublishedTag> = rows
        .iter()
        .map(|r| PublishedTag {
            name: r.tag.clone(),
            published: r.date,
        })
        .collect();
    let saturday = date!(2026 - 06 - 13);
    let p = LandingPolicy::default();
    let stable = Stream::new("release4.2", "4.17").unwrap();
    let next = Stream::new("main", "4.19").unwrap();
    let s = plan_bump(&stable, &"4.17.6-5".parse().unwrap(), &tags, saturday, &p).unwrap();
    let n = plan_bump(&next, &"4.19.4-8".parse().unwrap(), &tags, saturday, &p).unwrap();
    assert_eq!((s.tag.as_str(), s.rel_only), ("v4.17.6-6", true));
    assert_eq!((n.tag.as_str(), n.rel_only), ("v4.19.4-9", true));
    // v4.19.5-1 was tagged on Sunday 2026-06-21: it waits for the Saturday after.
    let waiting = plan_bump(
        &next,
        &n.to,
        &tags,
        date!(2026 - 06 - 27) - Duration::weeks(1),
        &p,
    );
    assert_eq!(waiting, Err(Skip::UpToDate));
    let later = plan_bump(&next, &n.to, &tags, date!(2026 - 06 - 27), &p).unwrap();
    assert_eq!(later.tag, "v4.19.5-1");
    // The shipped pin, v4.17.4-5, is far behind: the bot's first run jumps to the newest.
    let shipped = plan_bump(
        &stable,
        &"4.17.4-5".parse().unwrap(),
        &tags,
        date!(2026 - 11 - 21),
        &p,
    )
    .unwrap();
    assert_eq!(shipped.tag, "v4.17.6-6");
}
