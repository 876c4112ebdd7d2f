//! The bot replays Qubes' real tag history: a forge repository holds all 710 tags
//! of ../shared/fixtures/qubes-vmm-xen/tags.tsv with their real dates, and the bot
//! runs every Saturday across the life of the 4.17 and 4.19 streams, its branch
//! merged after each run as a maintainer would. Every weekend must bump each
//! stream to the newest tag published before it (per an oracle written from the
//! table's columns) and do nothing else.

#[path = "../../upstream-tags/tests/support/oracle.rs"]
mod oracle;
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bump_bot::{run, BotConfig, GitTags, Outcome};
use oracle::{oracle_key, rows, Row};
use support::{git, lock, LineDefs};
use time::{Duration as Days, Weekday};
use upstream_tags::LandingPolicy;

/// Writes every tag with its real date in one `git fast-import` stream.
fn forge_with_history(dir: &std::path::Path, rows: &[Row]) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "--bare"]);
    let mut stream = String::from(
        "commit refs/heads/main\nmark :1\ncommitter Q <q@example.invalid> 1262304000 +0000\ndata 5\ninit\n\n",
    );
    for r in rows {
        let when = r.date.midnight().assume_utc().unix_timestamp() + 12 * 3600;
        stream.push_str(&format!(
            "tag {}\nfrom :1\ntagger Q <q@example.invalid> {when} +0000\ndata {}\n{}\n",
            r.tag,
            r.tag.len(),
            r.tag
        ));
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_bot_follows_the_real_history_weekend_by_weekend() {
    let rows = rows();
    let tmp = tempfile::tempdir().unwrap();
    let forge = tmp.path().join("qubes-vmm-xen.git");
    forge_with_history(&forge, &rows);

    let streams = [
        ("xen", "4.17", [4u64, 17]),
        ("qubes-xen-next", "4.19", [4, 19]),
    ];
    let in_series = |nums: [u64; 2]| -> Vec<&Row> {
        rows.iter()
            .filter(|r| oracle_key(r).is_some_and(|k| k.0[..2] == nums))
            .collect()
    };
    let repo = tmp.path().join("channel");
    std::fs::create_dir_all(repo.join("definitions")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut current = Vec::new();
    for (package, series, nums) in streams {
        let first = in_series(nums).into_iter().min_by_key(|r| r.date).unwrap();
        std::fs::write(
            repo.join(format!("definitions/{package}.toml")),
            format!(
                "version = \"{}-{}\"\nseries = \"{series}\"\nrepo = \"{}\"\n",
                first.version,
                first.rel,
                forge.display()
            ),
        )
        .unwrap();
        current.push((first.date, oracle_key(first).unwrap()));
    }
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "definitions"]);

    let start = current
        .iter()
        .map(|c| c.0)
        .min()
        .unwrap()
        .next_occurrence(Weekday::Saturday);
    let end = rows.iter().map(|r| r.date).max().unwrap() + Days::weeks(2);
    let mut cfg = BotConfig {
        repo: repo.clone(),
        definitions: "definitions".into(),
        base: "main".into(),
        branch_prefix: "bot/bumps-".into(),
        state_dir: tmp.path().join("state"),
        signing_key: None,
        landing: LandingPolicy::default(),
        gate: vec![],
        gate_timeout: Duration::from_secs(30),
        today: start,
        dry_run: false,
    };
    let client = source_fetch::GitClient::new(
        &tmp.path().join("cache"),
        source_fetch::UrlRewrites::new(),
        Duration::from_secs(300),
    )
    .unwrap();
    let source = GitTags::new(client);
    let mut bumps = 0;
    let mut weekend = start;
    while weekend <= end {
        cfg.today = weekend;
        let report = run(&cfg, &lock(&cfg), &LineDefs, &source).unwrap();
        assert!(!report.failed(), "{report}");
        for (i, (package, _, nums)) in streams.iter().enumerate() {
            let (_, key) = &current[i];
            let expected = in_series(*nums)
                .into_iter()
                .filter(|r| r.date < weekend)
                .filter_map(|r| oracle_key(r).map(|k| (k, r)))
                .filter(|(k, _)| k > key && (key.1 == 0 || k.1 == 1))
                .max_by(|a, b| a.0.cmp(&b.0));
            let got = &report
                .packages
                .iter()
                .find(|p| p.package == *package)
                .unwrap()
                .outcome;
            match (got, expected) {
                (Outcome::Bumped { to, .. }, Some((k, r))) => {
                    assert_eq!(
                        *to,
                        format!("{}-{}", r.version, r.rel),
                        "{package} on {weekend}"
                    );
                    current[i].1 = k;
                    bumps += 1;
                }
                (Outcome::UpToDate { .. } | Outcome::Waiting { .. }, None) => {}
                (got, want) => panic!(
                    "{package} on {weekend}: bot {got:?}, oracle {:?}",
                    want.map(|w| &w.1.tag)
                ),
            }
        }
        let branch = format!("bot/bumps-{weekend}");
        if git(&repo, &["branch", "--list", &branch]).contains(&branch) {
            let subjects = git(&repo, &["log", "--format=%s", &format!("main..{branch}")]);
            assert!(
                subjects.lines().count() <= streams.len(),
                "more than one commit per package: {subjects}"
            );
            git(&repo, &["merge", "-q", "--ff-only", &branch]);
        }
        weekend += Days::weeks(1);
    }
    let defs: Vec<String> = streams
        .iter()
        .map(|(p, _, _)| {
            std::fs::read_to_string(repo.join(format!("definitions/{p}.toml"))).unwrap()
        })
        .collect();
    assert!(
        defs[0].contains("version = \"4.17.6-6\"") && defs[1].contains("version = \"4.19.5-1\"")
    );
    assert!(bumps > 40, "only {bumps} bumps");
}
