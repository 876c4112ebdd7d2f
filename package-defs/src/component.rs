//! Qubes' guest components — qubes-core-vchan-xen, qubes-core-qubesdb, qubes-core-qrexec,
//! qubes-linux-utils, qubes-core-agent-linux — pinned as Xen is: a signed `v<version>` tag of
//! Qubes' repository, its commit and the NAR sha256 of a checkout (what Guix's `git-fetch`
//! hashes), keys by fingerprint.
//!
//! They live in `definitions/components/<name>.toml`, one file per component and Qubes
//! release (`qubes-core-qrexec` follows `release4.2` beside `xen`, `qubes-core-qrexec-next`
//! `release4.3` beside `qubes-xen-next`). A signature binds bytes to a tag name, not to a
//! repository: every component's tags are signed by the same Qubes key and named alike
//! (`v4.2.10` exists in several), so a fetched tree must also say it is the component and
//! version asked for — its `version` file and the `Source:` of its `debian/control` — and its
//! commit must be on the definition's branch.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{DocumentMut, ImDocument, Item, Table, Value};

use crate::defs::load::{check_commit, check_nar, key_path, line_col, LoadError, Problem};
use crate::defs::model::Definitions;
use crate::defs::txn::FileChange;
use crate::sources::fetch::{pinned_keys, Sources};
use crate::sources::verify::PackageCheck;

/// The sub-folder of the definitions folder holding the components.
pub const COMPONENTS_DIR: &str = "components";
/// The `kind` of a component file.
pub const KIND: &str = "qubes-component";

/// One of Qubes' guest components, as its own repository and packaging name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Known {
    /// The repository's name under github.com/QubesOS (the `component` key).
    pub repo_name: &'static str,
    /// `Source:` of the repository's `debian/control`: binds a fetched tree to the component.
    pub debian_source: &'static str,
    /// What it gives a qube.
    pub what: &'static str,
}

/// The components a qube needs, in build order (each builds against the ones before it).
pub const KNOWN: &[Known] = &[
    Known {
        repo_name: "qubes-core-vchan-xen",
        debian_source: "libvchan-xen",
        what: "libvchan-xen, Qubes' vchan layer over Xen's libxenvchan",
    },
    Known {
        repo_name: "qubes-core-qubesdb",
        debian_source: "qubesdb",
        what: "QubesDB: daemon, library and qubesdb-* tools",
    },
    Known {
        repo_name: "qubes-linux-utils",
        debian_source: "qubes-utils",
        what: "libqrexec-utils and the VM's helper tools",
    },
    Known {
        repo_name: "qubes-core-qrexec",
        debian_source: "qubes-core-qrexec",
        what: "qrexec: agent, client-vm, fork-server; daemon, client and policy in dom0",
    },
    Known {
        repo_name: "qubes-core-agent-linux",
        debian_source: "qubes-core-agent",
        what: "the VM's boot pieces: /rw, hostname, timezone, network, qrexec services",
    },
];

impl Known {
    pub fn by_repo_name(name: &str) -> Option<&'static Known> {
        KNOWN.iter().find(|k| k.repo_name == name)
    }
}

/// A component's version: `X.Y.Z`, tagged `vX.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentVersion(pub u32, pub u32, pub u32);

impl ComponentVersion {
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let num = |p: &str| -> Option<u32> {
            (!p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0')))
            .then(|| p.parse().ok())
            .flatten()
        };
        match parts.as_slice() {
            [a, b, c] => match (num(a), num(b), num(c)) {
                (Some(a), Some(b), Some(c)) => Ok(Self(a, b, c)),
                _ => Err(format!(
                    "`{s}` is not a version X.Y.Z (numbers without leading zeros)"
                )),
            },
            _ => Err(format!("`{s}` is not a version X.Y.Z (three numbers)")),
        }
    }

    /// The signed tag Qubes makes for it.
    pub fn tag(&self) -> String {
        format!("v{self}")
    }
}

impl fmt::Display for ComponentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Serialize for ComponentVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a component comes from.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentSource {
    pub repo: String,
    /// The branch whose tags the definition follows (`release4.2`, `release4.3`).
    pub branch: String,
    pub tag: String,
    pub commit: String,
    /// NAR sha256 of a checkout of `commit` (Nix/Guix base32).
    pub nar_sha256: String,
    pub signing_keys: Vec<String>,
}

/// A validated `definitions/components/<name>.toml`.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub name: String,
    pub path: PathBuf,
    pub component: &'static Known,
    pub version: ComponentVersion,
    /// The `xen` package it is built against.
    pub xen: String,
    pub source: ComponentSource,
}

/// `definitions/components/`.
pub fn dir_of(definitions: &Path) -> PathBuf {
    definitions.join(COMPONENTS_DIR)
}

/// Loads every component of `definitions/components/` (none when the folder is absent),
/// checking each names a `kind = "xen"` package of `defs`. All problems are reported at once.
pub fn load(definitions: &Path, defs: &Definitions) -> Result<Vec<Component>, LoadError> {
    let dir = dir_of(definitions);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LoadError::Dir { dir, source }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut problems = Vec::new();
    let mut out: Vec<Component> = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        if let Some(c) = parse(definitions, &path, &text, Some(defs), &mut problems) {
            out.push(c);
        }
    }
    // One definition per component and branch: two would race each other's updates.
    let mut seen = BTreeSet::new();
    for c in &out {
        if !seen.insert((c.component.repo_name, c.source.branch.clone())) {
            problems.push(Problem {
                file: c.path.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "a second definition of {} following branch {}; keep one",
                    c.component.repo_name, c.source.branch
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::Invalid { problems });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Validates one component file's text (also the rewritten text, before it is written).
pub fn parse_one(
    definitions: &Path,
    path: &Path,
    text: &str,
    defs: Option<&Definitions>,
) -> Result<Component, LoadError> {
    let mut problems = Vec::new();
    match parse(definitions, path, text, defs, &mut problems) {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(LoadError::Invalid { problems }),
    }
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Cx<'_> {
    fn at(&mut self, item: Option<&Item>, message: String) {
        let (line, column) = line_col(self.text, item.and_then(Item::span).map_or(0, |s| s.start));
        self.problems.push(Problem {
            file: self.path.into(),
            line,
            column,
            message,
        });
    }

    fn string(
        &mut self,
        t: &Table,
        name: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let key = name.rsplit('.').next().unwrap_or(name);
        match t.get(key) {
            None => {
                let what = check("").err().unwrap_or_else(|| "a string".into());
                self.at(None, format!("missing `{name}`: {what}"));
                None
            }
            Some(item) => match item.as_str() {
                None => {
                    self.at(Some(item), format!("`{name}` must be a string"));
                    None
                }
                Some(s) => match check(s) {
                    Ok(()) => Some(s.to_string()),
                    Err(e) => {
                        self.at(Some(item), format!("`{name}` {e}, found '{s}'"));
                        None
                    }
                },
            },
        }
    }

    fn unknown(&mut self, t: &Table, prefix: &str, allowed: &[&str]) {
        for (k, item) in t.iter() {
            if !allowed.contains(&k) {
                self.at(
                    Some(item),
                    format!(
                        "unknown key `{prefix}{k}`; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}

fn check_fingerprint(s: &str) -> Result<(), String> {
    if s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        Ok(())
    } else {
        Err("must be an OpenPGP v4 fingerprint: 40 uppercase hex digits, no spaces".into())
    }
}

fn parse(
    definitions: &Path,
    path: &Path,
    text: &str,
    defs: Option<&Definitions>,
    problems: &mut Vec<Problem>,
) -> Option<Component> {
    let doc = match ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            problems.push(Problem {
                file: path.into(),
                line,
                column,
                message: format!("invalid TOML: {}", e.message().trim()),
            });
            return None;
        }
    };
    let before = problems.len();
    let mut cx = Cx {
        path,
        text,
        problems,
    };
    let root = doc.as_table();
    cx.unknown(
        root,
        "",
        &[
            "schema",
            "name",
            "kind",
            "component",
            "version",
            "xen",
            "source",
        ],
    );
    match root.get("schema").map(|i| i.as_integer()) {
        Some(Some(1)) => {}
        other => {
            let item = root.get("schema");
            let found = match other {
                None => "nothing".to_string(),
                Some(Some(i)) => i.to_string(),
                Some(None) => "not an integer".to_string(),
            };
            cx.at(item, format!("`schema` must be 1, found {found}"));
        }
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let name = cx.string(root, "name", |s| {
        if s == stem {
            Ok(())
        } else {
            Err(format!("must equal the file name without .toml ('{stem}')"))
        }
    });
    cx.string(root, "kind", |s| {
        if s == KIND {
            Ok(())
        } else {
            Err(format!("must be \"{KIND}\" in {COMPONENTS_DIR}/"))
        }
    });
    let known_names: Vec<&str> = KNOWN.iter().map(|k| k.repo_name).collect();
    let component = cx
        .string(root, "component", |s| {
            if Known::by_repo_name(s).is_some() {
                Ok(())
            } else {
                Err(format!("must be one of {}", known_names.join(", ")))
            }
        })
        .and_then(|s| Known::by_repo_name(&s));
    let version = cx
        .string(root, "version", |s| ComponentVersion::parse(s).map(|_| ()))
        .and_then(|s| ComponentVersion::parse(&s).ok());
    let xen_names: Vec<String> = defs
        .map(|d| {
            d.packages
                .iter()
                .filter(|p| p.as_xen().is_some())
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let xen = cx.string(root, "xen", |s| match defs {
        Some(_) if !xen_names.iter().any(|n| n == s) => Err(format!(
            "must name a package of kind \"xen\" beside {COMPONENTS_DIR}/ ({})",
            xen_names.join(", ")
        )),
        _ if s.is_empty() => Err("must name the xen package it builds against".into()),
        _ => Ok(()),
    });
    let source = match root.get("source") {
        Some(Item::Table(t)) => Some(t),
        other => {
            cx.at(other, "missing table [source]".into());
            None
        }
    };
    let mut src = None;
    if let Some(t) = source {
        cx.unknown(
            t,
            "source.",
            &[
                "repo",
                "branch",
                "tag",
                "commit",
                "nar_sha256",
                "signing_keys",
            ],
        );
        let repo = cx.string(t, "source.repo", |s| match component {
            Some(k) if s != format!("https://github.com/QubesOS/{}", k.repo_name) => Err(format!(
                "must be https://github.com/QubesOS/{} (the component's repository; mirrors go through --url-rewrite)",
                k.repo_name
            )),
            _ if !s.starts_with("https://") => Err("must be an https:// URL".into()),
            _ => Ok(()),
        });
        let branch = cx.string(t, "source.branch", |s| {
            if !s.is_empty() && !s.contains(char::is_whitespace) && !s.starts_with('-') {
                Ok(())
            } else {
                Err("must be a branch name (release4.2, release4.3)".into())
            }
        });
        let tag = cx.string(t, "source.tag", |s| match version {
            Some(v) if s != v.tag() => Err(format!("must be the tag of `version`, '{}'", v.tag())),
            _ => Ok(()),
        });
        let commit = cx.string(t, "source.commit", check_commit);
        let nar = cx.string(t, "source.nar_sha256", check_nar);
        let keys = match t.get("signing_keys").and_then(Item::as_array) {
            Some(a) if !a.is_empty() => {
                let mut ks = Vec::new();
                for v in a.iter() {
                    match v.as_str().map(|s| (s, check_fingerprint(s))) {
                        Some((s, Ok(()))) => {
                            if !key_path(definitions, s).is_file() {
                                cx.at(
                                    t.get("signing_keys"),
                                    format!(
                                        "no pinned public key for {s}: add it as {}",
                                        key_path(definitions, s).display()
                                    ),
                                );
                            }
                            ks.push(s.to_string());
                        }
                        Some((s, Err(e))) => cx.at(
                            t.get("signing_keys"),
                            format!("each of `source.signing_keys` {e}, found '{s}'"),
                        ),
                        None => cx.at(
                            t.get("signing_keys"),
                            "each of `source.signing_keys` must be a string".into(),
                        ),
                    }
                }
                Some(ks)
            }
            _ => {
                cx.at(
                    t.get("signing_keys"),
                    "`source.signing_keys` must be a non-empty array of key fingerprints".into(),
                );
                None
            }
        };
        if let (Some(repo), Some(branch), Some(tag), Some(commit), Some(nar_sha256), Some(keys)) =
            (repo, branch, tag, commit, nar, keys)
        {
            src = Some(ComponentSource {
                repo,
                branch,
                tag,
                commit,
                nar_sha256,
                signing_keys: keys,
            });
        }
    }
    if cx.problems.len() != before {
        return None;
    }
    Some(Component {
        name: name?,
        path: path.into(),
        component: component?,
        version: version?,
        xen: xen?,
        source: src?,
    })
}

/// Why a component could not be verified or updated. Each names the file, tag or URL, what
/// was found and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error("unknown component '{name}'; known: {known}")]
    Unknown { name: String, known: String },
    #[error("{what}: its `version` file says {found}, but {expected} was asked for: the server serves another release under this tag; refusing it")]
    OtherVersion {
        what: String,
        found: String,
        expected: String,
    },
    #[error("{what}: its debian/control says `Source: {found}`, but {component}'s is `Source: {expected}`: the server serves another component under this name; refusing it")]
    OtherComponent {
        what: String,
        found: String,
        component: String,
        expected: String,
    },
    #[error("{what}: commit {commit} is not on branch {branch}, which {name} follows (`source.branch`); pass --allow-stream to move streams")]
    OtherStream {
        what: String,
        commit: String,
        branch: String,
        name: String,
    },
    #[error(
        "{name}: {target} is older than the pinned {current}; pass --allow-downgrade to go back"
    )]
    Downgrade {
        name: String,
        current: ComponentVersion,
        target: ComponentVersion,
    },
    #[error("{name}: {target} is already pinned; nothing to do (--repin fetches it again)")]
    AlreadyPinned {
        name: String,
        target: ComponentVersion,
    },
    #[error("{}: cannot read {what}: {source}", path.display())]
    Read {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{file}: cannot edit: {message}")]
    Edit { file: String, message: String },
}

/// Checks that the tree fetched for `c` at `version` says it is that component and version.
pub fn check_identity(
    tree: &Path,
    c: &Component,
    version: ComponentVersion,
    what: &str,
) -> Result<(), ComponentError> {
    let read = |rel: &'static str| {
        std::fs::read_to_string(tree.join(rel)).map_err(|source| ComponentError::Read {
            path: PathBuf::from(format!("{what}: {rel}")),
            what: rel,
            source,
        })
    };
    let control = read("debian/control")?;
    let found = control
        .lines()
        .find_map(|l| l.strip_prefix("Source:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if found != c.component.debian_source {
        return Err(ComponentError::OtherComponent {
            what: what.into(),
            found,
            component: c.component.repo_name.into(),
            expected: c.component.debian_source.into(),
        });
    }
    let found = read("version")?.trim().to_string();
    if found != version.to_string() {
        return Err(ComponentError::OtherVersion {
            what: what.into(),
            found,
            expected: version.to_string(),
        });
    }
    Ok(())
}

fn nar(dir: &Path) -> anyhow::Result<String> {
    Ok(content_hash::nar_hash(dir)?.to_nix_base32())
}

/// Fetches `c`'s tag `version` into `dest` with every check: the signature against the
/// pinned keys and the tag's own name (in `Sources::signed_tag_tree`, before anything is
/// exported), then the tree's component and version, then the branch. Returns the commit.
pub fn fetch_checked(
    definitions: &Path,
    c: &Component,
    version: ComponentVersion,
    sources: &dyn Sources,
    dest: &Path,
    allow_stream: bool,
) -> anyhow::Result<String> {
    let keys = pinned_keys(definitions, &c.source.signing_keys)?;
    let tag = version.tag();
    let what = format!("{} tag {tag}", c.source.repo);
    let commit = sources
        .signed_tag_tree(&c.source.repo, &tag, &keys, dest)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", c.name))?;
    check_identity(dest, c, version, &what)?;
    if !allow_stream && !sources.on_branch(&c.source.repo, &c.source.branch, &commit)? {
        return Err(ComponentError::OtherStream {
            what,
            commit,
            branch: c.source.branch.clone(),
            name: c.name.clone(),
        }
        .into());
    }
    Ok(commit)
}

/// Fetches `c` as pinned and compares every pin.
pub fn verify(
    definitions: &Path,
    c: &Component,
    sources: &dyn Sources,
    work: &Path,
) -> PackageCheck {
    let mut check = PackageCheck {
        package: c.name.clone(),
        checked: Vec::new(),
        problems: Vec::new(),
    };
    let dest = work.join(&c.name);
    let _ = std::fs::remove_dir_all(&dest);
    match fetch_checked(definitions, c, c.version, sources, &dest, false) {
        Err(e) => check.problems.push(format!("{e:#}")),
        Ok(commit) => {
            check
                .checked
                .push("signed tag, component, version, branch".into());
            if commit != c.source.commit {
                check.problems.push(format!(
                    "{} tag {} is commit {commit}, but {} pins {} (the tag moved?)",
                    c.source.repo,
                    c.source.tag,
                    c.path.display(),
                    c.source.commit
                ));
            }
            check.checked.push("commit".into());
            match nar(&dest) {
                Ok(n) if n == c.source.nar_sha256 => {}
                Ok(n) => check.problems.push(format!(
                    "{}: NAR sha256 of {} is {n}, pinned {}",
                    c.path.display(),
                    c.source.tag,
                    c.source.nar_sha256
                )),
                Err(e) => check.problems.push(format!("{e:#}")),
            }
            check.checked.push("NAR sha256".into());
        }
    }
    let _ = std::fs::remove_dir_all(&dest);
    check
}

/// The new pins of a component.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentPins {
    pub version: ComponentVersion,
    pub tag: String,
    pub commit: String,
    pub nar_sha256: String,
}

/// `c`'s file with `pins` written in, comments and layout kept.
pub fn rewrite(text: &str, file: &str, pins: &ComponentPins) -> Result<String, ComponentError> {
    let err = |message: String| ComponentError::Edit {
        file: file.into(),
        message,
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| err(e.to_string()))?;
    fn set(t: &mut Table, key: &str, new: Value) {
        match t.get_mut(key).and_then(Item::as_value_mut) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = new;
                *old.decor_mut() = decor;
            }
            None => {
                t.insert(key, Item::Value(new));
            }
        }
    }
    set(
        doc.as_table_mut(),
        "version",
        Value::from(pins.version.to_string()),
    );
    let src = doc
        .get_mut("source")
        .and_then(Item::as_table_mut)
        .ok_or_else(|| err("missing table [source]".into()))?;
    set(src, "tag", Value::from(pins.tag.as_str()));
    set(src, "commit", Value::from(pins.commit.as_str()));
    set(src, "nar_sha256", Value::from(pins.nar_sha256.as_str()));
    Ok(doc.to_string())
}

/// What an update of a component did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct ComponentUpdate {
    pub package: String,
    pub from: ComponentVersion,
    pub to: ComponentVersion,
    pub pins: ComponentPins,
    pub file: PathBuf,
    pub written: bool,
}

/// Options of a component update that relax its checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    pub downgrade: bool,
    pub stream: bool,
    pub repin: bool,
}

/// Resolves `name` among `components`.
pub fn find<'a>(components: &'a [Component], name: &str) -> Result<&'a Component, ComponentError> {
    components
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ComponentError::Unknown {
            name: name.into(),
            known: components
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Moves `c` to `target`: checks the move, fetches and verifies the tag, hashes the checkout
/// and (unless `dry_run`) rewrites the file all or nothing (`txn`). A refusal writes nothing.
pub fn update(
    definitions: &Path,
    c: &Component,
    target: ComponentVersion,
    allow: Allow,
    dry_run: bool,
    sources: &dyn Sources,
    work: &Path,
) -> anyhow::Result<ComponentUpdate> {
    if target == c.version && !allow.repin {
        return Err(ComponentError::AlreadyPinned {
            name: c.name.clone(),
            target,
        }
        .into());
    }
    if target < c.version && !allow.downgrade {
        return Err(ComponentError::Downgrade {
            name: c.name.clone(),
            current: c.version,
            target,
        }
        .into());
    }
    let dest = work.join(format!("{}-{target}", c.name));
    let _ = std::fs::remove_dir_all(&dest);
    let commit = fetch_checked(definitions, c, target, sources, &dest, allow.stream)?;
    let pins = ComponentPins {
        version: target,
        tag: target.tag(),
        commit,
        nar_sha256: nar(&dest)?,
    };
    let _ = std::fs::remove_dir_all(&dest);
    let old = std::fs::read_to_string(&c.path).map_err(|source| ComponentError::Read {
        path: c.path.clone(),
        what: "the definition",
        source,
    })?;
    let file = c
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let new = rewrite(&old, &file, &pins)?;
    // The new text must load as the old one did (a bug otherwise: nothing is written).
    parse_one(definitions, &c.path, &new, None)
        .map_err(|e| anyhow::anyhow!("the rewritten definition does not validate (a bug): {e}"))?;
    if !dry_run {
        // On the definitions folder itself, under the lock a Xen update takes: a Xen update
        // swaps the whole folder, components/ included.
        crate::defs::txn::commit(
            definitions,
            &[FileChange {
                name: format!("{COMPONENTS_DIR}/{file}"),
                old_text: old,
                new_text: new,
            }],
        )?;
    }
    Ok(ComponentUpdate {
        package: c.name.clone(),
        from: c.version,
        to: target,
        pins,
        file: c.path.clone(),
        written: !dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_order_and_tag() {
        let v = ComponentVersion::parse("4.2.25").unwrap();
        assert_eq!(v.tag(), "v4.2.25");
        assert!(ComponentVersion::parse("4.2.9").unwrap() < v);
        assert!(ComponentVersion::parse("4.3.0").unwrap() > v);
        for bad in ["4.2", "4.2.x", "v4.2.25", "4.02.1", "", "4.2.25-1"] {
            assert!(ComponentVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_known_component_has_its_own_debian_source() {
        let set: BTreeSet<_> = KNOWN.iter().map(|k| k.debian_source).collect();
        assert_eq!(set.len(), KNOWN.len());
    }

    #[test]
    fn rewrite_keeps_comments_and_changes_only_the_pins() {
        let text = "# qrexec\nschema = 1\nname = \"q\"\nversion = \"4.2.24\" # pinned\n\n[source]\n# the tag\ntag = \"v4.2.24\"\ncommit = \"aa\"\nnar_sha256 = \"bb\"\nbranch = \"release4.2\"\n";
        let pins = ComponentPins {
            version: ComponentVersion(4, 2, 25),
            tag: "v4.2.25".into(),
            commit: "cc".into(),
            nar_sha256: "dd".into(),
        };
        assert_eq!(
            rewrite(text, "q.toml", &pins).unwrap(),
            "# qrexec\nschema = 1\nname = \"q\"\nversion = \"4.2.25\" # pinned\n\n[source]\n# the tag\ntag = \"v4.2.25\"\ncommit = \"cc\"\nnar_sha256 = \"dd\"\nbranch = \"release4.2\"\n"
        );
    }
}
