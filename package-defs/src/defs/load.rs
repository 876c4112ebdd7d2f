//! Reading and validating a definitions folder.
//!
//! Every problem is reported as `file:line:column: what is wrong, what is expected`, using the
//! spans `toml_edit` keeps, and all problems of a folder are reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, Table};

use crate::defs::model::*;
use crate::defs::version::{QubesVersion, XenVersion};

/// One validation problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read the definitions folder: {source} (pass --definitions DIR)", dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

impl LoadError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems } => problems,
            _ => &[],
        }
    }
}

/// The sub-folder holding pinned public keys, named `<FINGERPRINT>.asc`.
pub const KEYS_DIR: &str = "keys";

/// Path of the pinned public key with this fingerprint.
pub fn key_path(dir: &Path, fingerprint: &str) -> PathBuf {
    dir.join(KEYS_DIR).join(format!("{fingerprint}.asc"))
}

/// Loads and validates every `*.toml` in `dir`.
pub fn load_dir(dir: &Path) -> Result<Definitions, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Dir {
        dir: dir.into(),
        source,
    })?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|source| LoadError::Dir {
            dir: dir.into(),
            source,
        })?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    let mut problems = Vec::new();
    let mut loaded = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        if let Some(p) = parse_file(dir, path, &text, &mut problems) {
            loaded.push(p);
        }
    }
    cross_check(&loaded, &mut problems);
    if problems.is_empty() && files.is_empty() {
        problems.push(Problem {
            file: dir.into(),
            line: 0,
            column: 0,
            message: "no `*.toml` definitions found".into(),
        });
    }
    if !problems.is_empty() {
        return Err(LoadError::Invalid { problems });
    }
    let mut packages: Vec<Package> = loaded.into_iter().map(|l| l.package).collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Definitions {
        dir: dir.into(),
        packages,
    })
}

/// Validates one file's text (used by `load_dir` and to check rewritten files before writing).
pub fn parse_one(dir: &Path, path: &Path, text: &str) -> Result<Package, LoadError> {
    let mut problems = Vec::new();
    match parse_file(dir, path, text, &mut problems) {
        Some(l) if problems.is_empty() => Ok(l.package),
        _ => Err(LoadError::Invalid { problems }),
    }
}

struct Loaded {
    package: Package,
    /// Where `data = ...` is, for cross-file messages.
    data_at: (usize, usize),
    version_at: (usize, usize),
}

struct Ctx<'a> {
    dir: &'a Path,
    path: &'a Path,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn pos(&self, span: Option<Range<usize>>) -> (usize, usize) {
        line_col(self.text, span.map(|s| s.start).unwrap_or(0))
    }

    fn problem(&mut self, span: Option<Range<usize>>, message: String) {
        let (line, column) = self.pos(span);
        self.problems.push(Problem {
            file: self.path.into(),
            line,
            column,
            message,
        });
    }

    fn unknown_keys(&mut self, t: &Table, prefix: &str, allowed: &[&str]) {
        for (k, item) in t.iter() {
            if !allowed.contains(&k) {
                let span = t.key(k).and_then(|k| k.span()).or_else(|| item.span());
                self.problem(
                    span,
                    format!(
                        "unknown key `{}`; expected one of: {}",
                        dotted(prefix, k),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn table<'t>(&mut self, t: &'t Table, prefix: &str, key: &str) -> Option<&'t Table> {
        match t.get(key) {
            Some(Item::Table(tt)) => Some(tt),
            Some(other) => {
                self.problem(
                    other.span(),
                    format!(
                        "`{}` must be a table ([{}])",
                        dotted(prefix, key),
                        dotted(prefix, key)
                    ),
                );
                None
            }
            None => {
                self.problem(t.span(), format!("missing table [{}]", dotted(prefix, key)));
                None
            }
        }
    }

    /// A required string, checked by `check` (which returns what is expected on failure).
    fn string(
        &mut self,
        t: &Table,
        prefix: &str,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let name = dotted(prefix, key);
        match t.get(key) {
            None => {
                let expected = check("").err().unwrap_or_else(|| "a string".into());
                self.problem(t.span(), format!("missing `{name}`: {expected}"));
                None
            }
            Some(item) => match item.as_str() {
                Some(s) => match check(s) {
                    Ok(()) => Some(s.to_string()),
                    Err(expected) => {
                        self.problem(item.span(), format!("`{name}` {expected}, found '{s}'"));
                        None
                    }
                },
                None => {
                    self.problem(
                        item.span(),
                        format!("`{name}` must be a string, found {}", type_name(item)),
                    );
                    None
                }
            },
        }
    }

    fn integer(&mut self, t: &Table, prefix: &str, key: &str, min: i64, max: i64) -> Option<i64> {
        let name = dotted(prefix, key);
        match t.get(key) {
            None => {
                self.problem(t.span(), format!("missing `{name}`: an integer"));
                None
            }
            Some(item) => match item.as_integer() {
                Some(i) if (min..=max).contains(&i) => Some(i),
                Some(i) => {
                    self.problem(
                        item.span(),
                        format!("`{name}` must be between {min} and {max}, found {i}"),
                    );
                    None
                }
                None => {
                    self.problem(
                        item.span(),
                        format!("`{name}` must be an integer, found {}", type_name(item)),
                    );
                    None
                }
            },
        }
    }

    fn string_array(
        &mut self,
        t: &Table,
        prefix: &str,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let name = dotted(prefix, key);
        let Some(item) = t.get(key) else {
            self.problem(t.span(), format!("missing `{name}`: an array of strings"));
            return None;
        };
        let Some(arr) = item.as_array() else {
            self.problem(
                item.span(),
                format!(
                    "`{name}` must be an array of strings, found {}",
                    type_name(item)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for v in arr.iter() {
            match v.as_str() {
                Some(s) => match check(s) {
                    Ok(()) => out.push(s.to_string()),
                    Err(expected) => {
                        ok = false;
                        self.problem(
                            v.span(),
                            format!("each of `{name}` {expected}, found '{s}'"),
                        );
                    }
                },
                None => {
                    ok = false;
                    self.problem(
                        v.span(),
                        format!("each of `{name}` must be a string, found {}", v.type_name()),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn keys(&mut self, t: &Table, prefix: &str) -> Option<Vec<String>> {
        let fprs = self.string_array(t, prefix, "signing_keys", check_fingerprint)?;
        if fprs.is_empty() {
            self.problem(
                t.get("signing_keys").and_then(|i| i.span()),
                format!(
                    "`{}` must name at least one key",
                    dotted(prefix, "signing_keys")
                ),
            );
            return None;
        }
        let mut ok = true;
        for f in &fprs {
            let kp = key_path(self.dir, f);
            if !kp.is_file() {
                ok = false;
                let span = t.get("signing_keys").and_then(|i| i.span());
                self.problem(
                    span,
                    format!("no pinned public key for {f}: add it as {}", kp.display()),
                );
            }
        }
        ok.then_some(fprs)
    }
}

fn dotted(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => v.type_name(),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // Spans from the parser are on char boundaries; anything else is snapped back to one.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

pub fn check_commit(s: &str) -> Result<(), String> {
    if s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err("must be 40 lowercase hex digits (a git commit id)".into())
    }
}

pub fn check_sha256(s: &str) -> Result<(), String> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err("must be a sha256 as 64 lowercase hex digits".into())
    }
}

fn check_sha256_or_unpinned(s: &str) -> Result<(), String> {
    or_unpinned(s, check_sha256)
}

/// `check`, or the [`UNPINNED`] marker.
fn or_unpinned(s: &str, check: fn(&str) -> Result<(), String>) -> Result<(), String> {
    if s == UNPINNED {
        return Ok(());
    }
    check(s).map_err(|e| format!("{e} or \"{UNPINNED}\""))
}

/// Nix/Guix base32 alphabet (no e, o, u, t).
pub const NIX_BASE32: &str = "0123456789abcdfghijklmnpqrsvwxyz";

pub fn check_nar(s: &str) -> Result<(), String> {
    if s.len() == 52 && s.chars().all(|c| NIX_BASE32.contains(c)) {
        Ok(())
    } else {
        Err(
            "must be a NAR sha256 in Nix/Guix base32 (52 characters of 0-9a-z without e o t u)"
                .into(),
        )
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

fn check_url(s: &str) -> Result<(), String> {
    let ok = ["https://", "http://", "git://"]
        .iter()
        .any(|p| s.starts_with(p) && s.len() > p.len());
    if ok && !s.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("must be an https://, http:// or git:// URL".into())
    }
}

fn check_plain_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err("must be a plain file name (letters, digits, . _ + -; no slashes)".into())
    }
}

fn check_nonempty(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

fn check_hv_abi(s: &str) -> Result<(), String> {
    match s.strip_prefix("0x") {
        Some(h) if h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(
            "must be __XEN_LATEST_INTERFACE_VERSION__ as 0x + 8 hex digits (e.g. 0x00040e00)"
                .into(),
        ),
    }
}

fn check_config_symbol(s: &str) -> Result<(), String> {
    let name = s.strip_prefix("CONFIG_").unwrap_or("");
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err("must be a Kconfig option as `.config` spells it, such as \"CONFIG_XEN_IBT\"".into())
    }
}

fn check_flag(s: &str) -> Result<(), String> {
    if s.starts_with("--") && !s.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("must be a configure option starting with -- and without spaces".into())
    }
}

fn parse_file(dir: &Path, path: &Path, text: &str, problems: &mut Vec<Problem>) -> Option<Loaded> {
    let doc = match ImDocument::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
            problems.push(Problem {
                file: path.into(),
                line,
                column,
                message: format!("invalid TOML: {}", e.message().trim()),
            });
            return None;
        }
    };
    let mut cx = Ctx {
        dir,
        path,
        text,
        problems,
    };
    let root = doc.as_table();
    let before = cx.problems.len();

    let schema = cx.integer(root, "", "schema", 1, 1);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let name = cx.string(root, "", "name", |s| {
        if s == stem {
            Ok(())
        } else {
            Err(format!("must equal the file name without .toml ('{stem}')"))
        }
    });
    let kind = cx.string(root, "", "kind", |s| match s {
        "xen" | "qubes-data" => Ok(()),
        _ => Err("must be \"xen\" or \"qubes-data\"".into()),
    });
    let version = cx.string(root, "", "version", |s| {
        XenVersion::parse(s)
            .map(|_| ())
            .map_err(|e| format!("must be a {}", e.what))
    });
    let rel = cx.integer(root, "", "rel", 0, i64::from(u32::MAX));
    let version_at = cx.pos(root.get("version").and_then(|i| i.span()));
    let xen_version = version.as_deref().and_then(|v| XenVersion::parse(v).ok());

    let mut data_at = (1, 1);
    let body = match kind.as_deref() {
        Some("xen") => {
            cx.unknown_keys(
                root,
                "",
                &[
                    "schema",
                    "name",
                    "kind",
                    "version",
                    "rel",
                    "data",
                    "hv_abi",
                    "configure_flags",
                    "allow_dropped_options",
                    "stream",
                    "upstream",
                ],
            );
            data_at = cx.pos(root.get("data").and_then(|i| i.span()));
            parse_xen(&mut cx, root, xen_version.as_ref()).map(Body::Xen)
        }
        Some("qubes-data") => {
            cx.unknown_keys(
                root,
                "",
                &[
                    "schema", "name", "kind", "version", "rel", "source", "config", "patch",
                ],
            );
            parse_data(&mut cx, root, xen_version.as_ref(), rel).map(Body::QubesData)
        }
        _ => None,
    };
    if cx.problems.len() != before {
        return None;
    }
    let (Some(_), Some(name), Some(xen), Some(rel), Some(body)) =
        (schema, name, xen_version, rel, body)
    else {
        return None;
    };
    let rel = u32::try_from(rel).ok()?;
    Some(Loaded {
        package: Package {
            name,
            path: path.into(),
            version: QubesVersion { xen, rel },
            body,
        },
        data_at,
        version_at,
    })
}

fn parse_xen(cx: &mut Ctx<'_>, root: &Table, version: Option<&XenVersion>) -> Option<XenDef> {
    let data = cx.string(root, "", "data", check_plain_name);
    let hv_abi = cx.string(root, "", "hv_abi", check_hv_abi);
    let configure_flags = cx.string_array(root, "", "configure_flags", check_flag);
    // Optional: most definitions lose nothing.
    let allow_dropped_options = if root.contains_key("allow_dropped_options") {
        cx.string_array(root, "", "allow_dropped_options", check_config_symbol)
    } else {
        Some(Vec::new())
    };

    let stream = cx.table(root, "", "stream").and_then(|t| {
        cx.unknown_keys(t, "stream", &["repo", "branch", "commit", "xen_series"]);
        let repo = cx.string(t, "stream", "repo", check_url);
        let reference = match (t.contains_key("branch"), t.contains_key("commit")) {
            (true, false) => cx.string(t, "stream", "branch", check_nonempty).map(StreamRef::Branch),
            (false, true) => cx.string(t, "stream", "commit", check_commit).map(StreamRef::Commit),
            _ => {
                cx.problem(t.span(), "[stream] needs exactly one of `branch` (a Qubes branch) or `commit` (a commit of an unmerged branch)".into());
                None
            }
        };
        let series = cx.string(t, "stream", "xen_series", |s| {
            let ok = s.split_once('.').is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
            if ok { Ok(()) } else { Err("must be a Xen major.minor such as \"4.17\"".into()) }
        });
        if let (Some(s), Some(v)) = (&series, version) {
            if *s != v.series() {
                cx.problem(
                    root.get("version").and_then(|i| i.span()),
                    format!("`version` {v} is not in this stream's Xen series {s} (`stream.xen_series`)"),
                );
            }
        }
        Some(Stream { repo: repo?, reference: reference?, xen_series: series? })
    });

    let upstream = cx.table(root, "", "upstream").and_then(|t| {
        cx.unknown_keys(
            t,
            "upstream",
            &[
                "origin",
                "git",
                "tag",
                "commit",
                "nar_sha256",
                "signing_keys",
                "tarball",
            ],
        );
        let origin = match t.get("origin") {
            None => Some(Origin::Git),
            Some(_) => cx
                .string(t, "upstream", "origin", |s| match s {
                    "git" | "tarball" => Ok(()),
                    _ => Err("must be \"git\" (the signed RELEASE tag) or \"tarball\" (the release tarball and its .sig)".into()),
                })
                .map(|s| if s == "tarball" { Origin::Tarball } else { Origin::Git }),
        };
        let git = cx.string(t, "upstream", "git", check_url);
        let expected_tag = version.map(|v| v.upstream_tag());
        let tag = cx.string(t, "upstream", "tag", |s| match &expected_tag {
            Some(e) if s != e => Err(format!("must be '{e}' (the upstream tag of `version`)")),
            _ => check_nonempty(s),
        });
        let commit = cx.string(t, "upstream", "commit", |s| or_unpinned(s, check_commit));
        let nar = cx.string(t, "upstream", "nar_sha256", |s| or_unpinned(s, check_nar));
        // The git pins build a git-origin package: they may only be left unpinned when the
        // tarball is the origin.
        if origin == Some(Origin::Git) {
            for (key, v) in [("commit", &commit), ("nar_sha256", &nar)] {
                if v.as_deref() == Some(UNPINNED) {
                    cx.problem(
                        t.get(key).and_then(|i| i.span()),
                        format!("`upstream.{key}` is \"{UNPINNED}\", but the package builds from git (`upstream.origin` is \"git\" or absent); pin it with `package-defs update <package> <version>-<rel> --repin`, or set `origin = \"tarball\"`"),
                    );
                }
            }
        }
        let keys = cx.keys(t, "upstream");
        let tarball = cx.table(t, "upstream", "tarball").and_then(|tb| {
            cx.unknown_keys(tb, "upstream.tarball", &["url", "sha256", "sig_url"]);
            let url = cx.string(tb, "upstream.tarball", "url", check_url);
            let sha = cx.string(tb, "upstream.tarball", "sha256", check_sha256_or_unpinned);
            let sig = cx.string(tb, "upstream.tarball", "sig_url", check_url);
            Some(Tarball {
                url: url?,
                sha256: sha.filter(|s| s != UNPINNED),
                sig_url: sig?,
            })
        });
        Some(Upstream {
            origin: origin?,
            git: git?,
            tag: tag?,
            commit: commit.filter(|s| s != UNPINNED),
            nar_sha256: nar.filter(|s| s != UNPINNED),
            signing_keys: keys?,
            tarball: tarball?,
        })
    });
    Some(XenDef {
        data: data?,
        hv_abi: hv_abi?,
        configure_flags: configure_flags?,
        allow_dropped_options: allow_dropped_options?,
        stream: stream?,
        upstream: upstream?,
    })
}

fn parse_data(
    cx: &mut Ctx<'_>,
    root: &Table,
    version: Option<&XenVersion>,
    rel: Option<i64>,
) -> Option<DataDef> {
    let source = cx.table(root, "", "source").and_then(|t| {
        cx.unknown_keys(
            t,
            "source",
            &["repo", "tag", "commit", "nar_sha256", "signing_keys"],
        );
        let repo = cx.string(t, "source", "repo", check_url);
        let expected = version.zip(rel).map(|(v, r)| format!("v{v}-{r}"));
        // Absent for a commit of an unmerged branch (checked against the stream in cross_check).
        let tag = match t.get("tag") {
            None => Some(None),
            Some(_) => cx
                .string(t, "source", "tag", |s| match &expected {
                    Some(e) if s != e => Err(format!("must be '{e}' (v<version>-<rel>)")),
                    _ => check_nonempty(s),
                })
                .map(Some),
        };
        let commit = cx.string(t, "source", "commit", check_commit);
        let nar = cx.string(t, "source", "nar_sha256", check_nar);
        let keys = cx.keys(t, "source");
        Some(DataSource {
            repo: repo?,
            tag: tag?,
            commit: commit?,
            nar_sha256: nar?,
            signing_keys: keys?,
        })
    });
    let config = cx.table(root, "", "config").and_then(|t| {
        cx.unknown_keys(t, "config", &["file", "sha256"]);
        let file = cx.string(t, "config", "file", check_plain_name);
        let sha = cx.string(t, "config", "sha256", check_sha256);
        Some(ConfigPin {
            file: file?,
            sha256: sha?,
        })
    });
    let patches = match root.get("patch") {
        Some(Item::ArrayOfTables(arr)) if !arr.is_empty() => {
            let mut out = Vec::new();
            let mut ok = true;
            let mut numbers = BTreeMap::new();
            let mut files = BTreeSet::new();
            for (i, t) in arr.iter().enumerate() {
                let prefix = format!("patch[{i}]");
                cx.unknown_keys(t, &prefix, &["number", "file", "sha256"]);
                let number = cx.integer(t, &prefix, "number", 0, 99_999);
                let file = cx.string(t, &prefix, "file", check_plain_name);
                let sha = cx.string(t, &prefix, "sha256", check_sha256);
                match (number, file, sha) {
                    (Some(n), Some(f), Some(s)) => {
                        let n = n as u32;
                        if let Some(prev) = numbers.insert(n, i) {
                            ok = false;
                            cx.problem(t.get("number").and_then(|x| x.span()), format!("patch number {n} appears twice (also patch[{prev}]); numbers must be unique"));
                        }
                        if !files.insert(f.clone()) {
                            ok = false;
                            cx.problem(
                                t.get("file").and_then(|x| x.span()),
                                format!("patch file '{f}' appears twice"),
                            );
                        }
                        out.push(PatchPin {
                            number: n,
                            file: f,
                            sha256: s,
                        });
                    }
                    _ => ok = false,
                }
            }
            ok.then_some(out)
        }
        Some(other) => {
            cx.problem(
                other.span(),
                "`patch` must be a non-empty array of tables ([[patch]] with number, file, sha256)"
                    .into(),
            );
            None
        }
        None => {
            cx.problem(root.span(), "missing the patch series: [[patch]] tables with number, file, sha256 in spec order".into());
            None
        }
    };
    Some(DataDef {
        source: source?,
        config: config?,
        patches: patches?,
    })
}

fn cross_check(loaded: &[Loaded], problems: &mut Vec<Problem>) {
    let by_name: BTreeMap<&str, &Loaded> = loaded
        .iter()
        .map(|l| (l.package.name.as_str(), l))
        .collect();
    for l in loaded {
        let Body::Xen(x) = &l.package.body else {
            continue;
        };
        let at = |(line, column): (usize, usize), message: String| Problem {
            file: l.package.path.clone(),
            line,
            column,
            message,
        };
        match by_name.get(x.data.as_str()) {
            None => problems.push(at(l.data_at, format!("`data` names '{}', but there is no valid {}.toml of kind \"qubes-data\" beside this file", x.data, x.data))),
            Some(d) => match &d.package.body {
                Body::QubesData(_) if d.package.version != l.package.version => problems.push(at(
                    l.version_at,
                    format!("version-rel {} differs from data package '{}' ({}); both must pin the same Qubes tag", l.package.version, x.data, d.package.version),
                )),
                Body::QubesData(dd) => match (&x.stream.reference, &dd.source.tag) {
                    (StreamRef::Commit(c), None) if *c != dd.source.commit => problems.push(at(
                        l.data_at,
                        format!("[stream] pins commit {c}, but data package '{}' pins commit {} (`source.commit`); both must pin the same commit", x.data, dd.source.commit),
                    )),
                    (StreamRef::Commit(c), Some(tag)) => problems.push(at(
                        l.data_at,
                        format!("[stream] pins commit {c} of an unmerged branch, but data package '{}' pins the tag {tag}; remove `source.tag` there and pin `source.commit = \"{c}\"`", x.data),
                    )),
                    (StreamRef::Branch(b), None) => problems.push(at(
                        l.data_at,
                        format!("this stream follows branch {b}'s signed tags, but data package '{}' has no `source.tag`; add `tag = \"v{}\"` to its [source]", x.data, l.package.version),
                    )),
                    _ => {}
                },
                Body::Xen(_) => problems.push(at(l.data_at, format!("`data` names '{}', which is of kind \"xen\"; expected a \"qubes-data\" package", x.data))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let t = "a = 1\nbé = 'x'\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        let off = t.find("'x'").unwrap();
        assert_eq!(line_col(t, off), (2, 6));
    }

    #[test]
    fn nar_check_uses_nix_alphabet() {
        assert!(check_nar("0skhi6bgbhv5z57va5sm002jmlwwc7fimpzy9z3gqp1q799m0nz2").is_ok());
        assert!(check_nar("eskhi6bgbhv5z57va5sm002jmlwwc7fimpzy9z3gqp1q799m0nz2").is_err());
        assert!(check_nar("0skhi").is_err());
    }
}
