//! Test support shared by the bot tests: git, a forge repository whose tags the
//! tests date, and stand-in definitions (`version = "..."` lines).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bump_bot::packages::BoxError;
use bump_bot::{BotConfig, Followed, Packages, RunLock};
use time::Date;
use upstream_tags::{QubesVersion, Stream};

/// The run lock of `cfg`'s state folder, as `package-defs bot` takes it for a whole run.
/// A test locks again right after dropping a lock, which the bot never does (one lock per
/// process): a child that another test thread is forking can share the released lock's
/// open file until its exec closes it, so a lock this very process held is waited for
/// (two seconds at most).
pub fn lock(cfg: &BotConfig) -> RunLock {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match RunLock::for_state(&cfg.state_dir) {
            Ok(l) => return l,
            Err(bump_bot::lock::LockError::Held { holder, .. })
                if holder == std::process::id().to_string()
                    && std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Qubes-like repository: tags are annotated, dated by the test.
pub struct Forge {
    pub dir: PathBuf,
}

impl Forge {
    pub fn new(root: &Path) -> Forge {
        Forge::named(root, "qubes-vmm-xen")
    }

    pub fn named(root: &Path, name: &str) -> Forge {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "release4.2"]);
        std::fs::write(dir.join("version"), "4.17.4\n").unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-q", "-m", "init"]);
        Forge { dir }
    }

    pub fn tag(&self, name: &str, day: Date) {
        std::fs::write(self.dir.join("version"), format!("{name}\n")).unwrap();
        git(&self.dir, &["commit", "-q", "-am", name]);
        let when = format!("{day}T12:00:00Z");
        let out = Command::new("git")
            .args(["tag", "-a", name, "-m", name])
            .current_dir(&self.dir)
            .env("GIT_COMMITTER_DATE", &when)
            .env("GIT_COMMITTER_NAME", "qubes")
            .env("GIT_COMMITTER_EMAIL", "q@example.invalid")
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    pub fn url(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }
}

/// Stand-in definitions: `definitions/<package>.toml` with `version`, `series`, `repo` lines.
pub struct LineDefs;

pub fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Packages for LineDefs {
    fn followed(&self, dir: &Path) -> Result<Vec<Followed>, BoxError> {
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let text = std::fs::read_to_string(e.path())?;
            let package = e.path().file_stem().unwrap().to_string_lossy().into_owned();
            let current: QubesVersion = field(&text, "version").ok_or("no version")?.parse()?;
            let stream = field(&text, "series")
                .map(|s| Stream::new("release4.2", &s).ok_or("bad series"))
                .transpose()?;
            out.push(Followed {
                package,
                current,
                stream,
                qubes_repo: field(&text, "repo").ok_or("no repo")?,
                upstream_repo: field(&text, "upstream"),
            });
        }
        Ok(out)
    }

    fn update(&self, dir: &Path, package: &str, to: &QubesVersion) -> Result<String, BoxError> {
        let path = dir.join(format!("{package}.toml"));
        let text = std::fs::read_to_string(&path)?;
        let old = field(&text, "version").ok_or("no version")?;
        std::fs::write(
            &path,
            text.replace(&format!("\"{old}\""), &format!("\"{to}\"")),
        )?;
        Ok(format!(
            "{package}: {old} -> {to}\n\nupdate report for {to}"
        ))
    }
}
