//! Replays Qubes' real vmm-xen tag history (../shared/fixtures/qubes-vmm-xen/tags.tsv,
//! 710 tags) weekend by weekend for the two streams our definitions follow, and
//! checks every weekend against an oracle written from the table's own version
//! and rel columns: the bump is to the newest tag of the stream published before
//! that weekend, and nothing else happens.

use std::path::PathBuf;

use time::macros::{date, format_description};
use time::{Date, Duration, Weekday};
use upstream_tags::{plan_bump, LandingPolicy, PublishedTag, QubesVersion, Skip, Stream};

struct Row {
    tag: String,
    date: Date,
    version: String,
    rel: String,
}

fn shared_dir() -> PathBuf {
    std::env::var_os("QXK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn rows() -> Vec<Row> {
    let path = shared_dir().join("fixtures/qubes-vmm-xen/tags.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fmt = format_description!("[year]-[month]-[day]");
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                tag: f[0].to_string(),
                date: Date::parse(f[1], &fmt).unwrap_or_else(|e| panic!("{line:?}: {e}")),
                version: f[2].to_string(),
                rel: f.get(3).copied().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// The oracle's own ordering key, from the table columns: numeric parts, release
/// after its rcs, rc number, rel. None for rows that are not a release tag.
fn oracle_key(row: &Row) -> Option<(Vec<u64>, u8, u64, u64)> {
    if row.tag != format!("v{}-{}", row.version, row.rel) {
        return None; // R4.x, mm_*, w_*, and tags whose name is not the version
    }
    let (core, rc) = match row.version.split_once("-rc") {
        Some((c, n)) => (c, Some(n.parse::<u64>().ok()?)),
        None => (row.version.as_str(), None),
    };
    let nums: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 3 {
        return None;
    }
    Some((
        nums,
        if rc.is_some() { 0 } else { 1 },
        rc.unwrap_or(0),
        row.rel.parse().ok()?,
    ))
}

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
