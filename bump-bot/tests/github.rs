//! The GitHub tag source against a loopback forge that answers like GitHub's REST
//! API: paginated ref listings with ETags (304 on If-None-Match), tag and commit
//! objects with dates, a token check, rate limits and Retry-After. Then the bot
//! runs over simulated weeks with that forge as its only source of tags.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bump_bot::forge::github_owner_repo;
use bump_bot::{run, BotConfig, GitHubTags, Outcome, TagSource};
use source_fetch::{DownloadCache, FetchOptions, Fetcher, UrlRewrites};
use support::{git, lock, LineDefs};
use test_servers::{Fault, HttpServer, Reply, RequestRecord};
use time::macros::date;
use time::Date;
use upstream_tags::LandingPolicy;

const REPO: &str = "https://github.com/QubesOS/qubes-vmm-xen";
const API: &str = "/repos/QubesOS/qubes-vmm-xen/git/";
const TOKEN: &str = "test-token-123";

#[derive(Default)]
struct Forge {
    /// (name, object sha, "tag" | "commit", day)
    tags: Vec<(String, String, &'static str, Date)>,
    /// Next listing request answered with an exhausted rate limit, resetting in 1 s.
    rate_limit_once: bool,
}

fn listing_page(tags: &[(String, String, &'static str, Date)], page: usize) -> (String, bool) {
    const PER_PAGE: usize = 2; // small pages, so pagination is exercised
    let items: Vec<String> = tags
        .iter()
        .skip((page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|(name, sha, kind, _)| {
            format!(r#"{{"ref":"refs/tags/{name}","object":{{"sha":"{sha}","type":"{kind}"}}}}"#)
        })
        .collect();
    (
        format!("[{}]", items.join(",")),
        tags.len() > page * PER_PAGE,
    )
}

fn answer(forge: &Mutex<Forge>, base: &str, rec: &RequestRecord) -> Reply {
    let header = |n: &str| {
        rec.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    if header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return Reply::status(401);
    }
    let mut f = forge.lock().unwrap();
    let path = rec.target.split('?').next().unwrap_or("");
    let rest = &path[API.len()..];
    if rest.starts_with("matching-refs/tags") {
        if std::mem::take(&mut f.rate_limit_once) {
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1;
            return Reply::status(403)
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", reset.to_string());
        }
        let page: usize = rec
            .target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("page="))
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let (body, more) = listing_page(&f.tags, page);
        let etag = format!("\"{:x}-{page}\"", body.len() * 31 + f.tags.len());
        if header("if-none-match").as_deref() == Some(etag.as_str()) {
            return Reply::status(304).header("ETag", etag);
        }
        let mut reply = Reply::json(body).header("ETag", etag);
        if more {
            reply = reply.header(
                "Link",
                format!(
                    "<{base}{API}matching-refs/tags/?per_page=100&page={}>; rel=\"next\"",
                    page + 1
                ),
            );
        }
        return reply;
    }
    for (kind, field) in [("tags/", "tagger"), ("commits/", "committer")] {
        if let Some(sha) = rest.strip_prefix(kind) {
            return match f.tags.iter().find(|t| t.1 == sha && kind.starts_with(t.2)) {
                Some((_, _, _, day)) => Reply::json(format!(
                    r#"{{"sha":"{sha}","{field}":{{"date":"{day}T09:30:00Z"}}}}"#
                )),
                None => Reply::status(404),
            };
        }
    }
    Reply::status(404)
}

struct Setup {
    server: HttpServer,
    forge: Arc<Mutex<Forge>>,
    tmp: tempfile::TempDir,
}

fn setup() -> Setup {
    let server = HttpServer::start().unwrap();
    let forge = Arc::new(Mutex::new(Forge::default()));
    let (f, base) = (forge.clone(), server.base_url());
    server.route(API, move |rec| answer(&f, &base, rec));
    Setup {
        server,
        forge,
        tmp: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn add(&self, name: &str, kind: &'static str, day: Date) {
        let mut f = self.forge.lock().unwrap();
        let sha = format!("{:040x}", f.tags.len() + 0xabc0);
        f.tags.push((name.to_string(), sha, kind, day));
    }

    fn source(&self, token: Option<&str>) -> GitHubTags {
        let mut rewrites = UrlRewrites::new();
        rewrites.push("https://api.github.com", self.server.base_url());
        let opts = FetchOptions {
            rewrites,
            quiet: true,
            initial_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
            ..FetchOptions::default()
        };
        let cache = DownloadCache::open(self.tmp.path().join("downloads")).unwrap();
        GitHubTags::new(
            Fetcher::new(opts, cache).unwrap(),
            "https://api.github.com",
            token.map(str::to_string),
            self.tmp.path().join("github"),
        )
    }

    fn object_requests(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.target.contains("/git/tags/") || r.target.contains("/git/commits/"))
            .count()
    }
}

#[test]
fn lists_tags_with_dates_and_revalidates_with_etags() {
    let s = setup();
    s.add("v4.17.4-5", "tag", date!(2026 - 05 - 12));
    s.add("v4.17.4-6", "tag", date!(2026 - 06 - 09));
    s.add("mm_c36b6005", "commit", date!(2026 - 06 - 10));
    let source = s.source(Some(TOKEN));

    let mut tags = source.tags(REPO).unwrap();
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    let shown: Vec<String> = tags
        .iter()
        .map(|t| format!("{} {}", t.name, t.published))
        .collect();
    assert_eq!(
        shown,
        [
            "mm_c36b6005 2026-06-10",
            "v4.17.4-5 2026-05-12",
            "v4.17.4-6 2026-06-09"
        ]
    );
    assert_eq!(
        s.object_requests(),
        3,
        "{:?}",
        s.server
            .requests()
            .iter()
            .map(|r| &r.target)
            .collect::<Vec<_>>()
    );

    // Unchanged: every page revalidates with its ETag (304), no object is fetched again.
    let before = s.server.request_count();
    assert_eq!(source.tags(REPO).unwrap().len(), 3);
    let again: Vec<RequestRecord> = s.server.requests()[before..].to_vec();
    assert_eq!(again.len(), 2, "two listing pages, nothing else: {again:?}");
    assert!(again
        .iter()
        .all(|r| r.headers.iter().any(|(k, _)| k == "if-none-match")));
    assert_eq!(s.object_requests(), 3);

    // A new tag: only its object is fetched.
    s.add("v4.17.4-7", "tag", date!(2026 - 06 - 16));
    assert_eq!(source.tags(REPO).unwrap().len(), 4);
    assert_eq!(s.object_requests(), 4);
}

#[test]
fn waits_out_rate_limits_and_retry_after_and_names_auth_failures() {
    let s = setup();
    s.add("v4.17.4-6", "tag", date!(2026 - 06 - 09));
    s.forge.lock().unwrap().rate_limit_once = true;
    s.server.inject(
        &format!("{API}tags/{:040x}", 0xabc0),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let tags = s.source(Some(TOKEN)).tags(REPO).unwrap();
    assert_eq!(tags.len(), 1);
    let listings = s
        .server
        .requests()
        .iter()
        .filter(|r| r.target.contains("matching-refs"))
        .count();
    assert_eq!(
        listings, 2,
        "the rate-limited listing is retried once after the reset"
    );

    let err = s.source(None).tags(REPO).unwrap_err().to_string();
    assert!(
        err.contains("HTTP 401") && err.contains("matching-refs"),
        "{err}"
    );
    let err = s
        .source(Some(TOKEN))
        .tags("https://gitlab.example/x/y")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a https://github.com/OWNER/REPO URL"),
        "{err}"
    );
    assert_eq!(
        github_owner_repo("https://github.com/QubesOS/qubes-vmm-xen.git").as_deref(),
        Some("QubesOS/qubes-vmm-xen")
    );
}

#[test]
fn the_bot_follows_tags_the_forge_adds_over_weeks() {
    let s = setup();
    let repo = s.tmp.path().join("channel");
    std::fs::create_dir_all(repo.join("definitions")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("definitions/xen.toml"),
        format!("version = \"4.17.4-5\"\nseries = \"4.17\"\nrepo = \"{REPO}\"\n"),
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "definitions"]);
    let mut cfg = BotConfig {
        repo: repo.clone(),
        definitions: "definitions".into(),
        base: "main".into(),
        branch_prefix: "bot/bumps-".into(),
        state_dir: s.tmp.path().join("state"),
        signing_key: None,
        landing: LandingPolicy::default(),
        gate: vec![],
        gate_timeout: Duration::from_secs(30),
        today: date!(2026 - 06 - 06),
        dry_run: false,
    };
    let source = s.source(Some(TOKEN));
    let mut week = |day: Date, add: &[(&str, Date)]| {
        for (name, published) in add {
            s.add(name, "tag", *published);
        }
        cfg.today = day;
        let report = run(&cfg, &lock(&cfg), &LineDefs, &source).unwrap();
        let branch = format!("bot/bumps-{day}");
        if git(&repo, &["branch", "--list", &branch]).contains(&branch) {
            git(&repo, &["merge", "-q", "--ff-only", &branch]);
        }
        report.packages[0].outcome.clone()
    };
    assert_eq!(
        week(date!(2026 - 06 - 06), &[]),
        Outcome::UpToDate {
            current: "4.17.4-5".into()
        }
    );
    let o = week(
        date!(2026 - 06 - 13),
        &[
            ("v4.17.4-6", date!(2026 - 06 - 09)),
            ("v4.19.4-9", date!(2026 - 06 - 09)),
        ],
    );
    assert!(
        matches!(&o, Outcome::Bumped { to, .. } if to == "4.17.4-6"),
        "{o:?}"
    );
    assert_eq!(
        week(date!(2026 - 06 - 20), &[]),
        Outcome::UpToDate {
            current: "4.17.4-6".into()
        }
    );
    let o = week(
        date!(2026 - 06 - 27),
        &[
            ("v4.17.5-rc1-1", date!(2026 - 06 - 22)),
            ("v4.17.5-1", date!(2026 - 06 - 24)),
        ],
    );
    assert!(
        matches!(&o, Outcome::Bumped { to, .. } if to == "4.17.5-1"),
        "{o:?}"
    );
    let log = git(&repo, &["log", "--format=%s"]);
    assert_eq!(
        log.lines().take(2).collect::<Vec<_>>(),
        ["xen: 4.17.4-6 -> 4.17.5-1", "xen: 4.17.4-5 -> 4.17.4-6"]
    );
}
