//! Rewriting definition files in place with `toml_edit`, keeping comments and layout.

use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::defs::model::{PatchPin, UNPINNED};
use crate::defs::version::QubesVersion;

#[derive(Debug, thiserror::Error)]
#[error("{file}: cannot edit: {message}")]
pub struct EditError {
    pub file: String,
    pub message: String,
}

/// New pins for a `kind = "xen"` file.
#[derive(Debug, Clone)]
pub struct XenPins {
    pub version: QubesVersion,
    /// `None` (the tarball is the origin) writes [`UNPINNED`].
    pub upstream_commit: Option<String>,
    pub upstream_nar: Option<String>,
    /// `None` keeps/sets the tarball hash unpinned.
    pub tarball_sha256: Option<String>,
    pub hv_abi: String,
    /// For a stream pinned to a commit of an unmerged branch: the new `[stream] commit`.
    pub stream_commit: Option<String>,
}

/// New pins for a `kind = "qubes-data"` file.
#[derive(Debug, Clone)]
pub struct DataPins {
    pub version: QubesVersion,
    /// `None` for data at a commit of an unmerged branch (no tag to record).
    pub tag: Option<String>,
    pub commit: String,
    pub nar: String,
    pub config_sha256: String,
    pub patches: Vec<PatchPin>,
}

/// Replaces a value, keeping the comment/spacing around it.
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

fn table<'a>(doc: &'a mut Table, key: &str, file: &str) -> Result<&'a mut Table, EditError> {
    doc.get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| EditError {
            file: file.into(),
            message: format!("missing table [{key}]"),
        })
}

fn parse(text: &str, file: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| EditError {
        file: file.into(),
        message: e.to_string(),
    })
}

fn set_version(root: &mut Table, v: &QubesVersion) {
    set(root, "version", Value::from(v.xen.to_string()));
    set(root, "rel", Value::from(i64::from(v.rel)));
}

fn pin_or_unpinned(v: &Option<String>) -> Value {
    Value::from(v.as_deref().unwrap_or(UNPINNED))
}

pub fn rewrite_xen(
    text: &str,
    file: &str,
    old: &QubesVersion,
    p: &XenPins,
) -> Result<String, EditError> {
    let mut doc = parse(text, file)?;
    let root = doc.as_table_mut();
    set_version(root, &p.version);
    set(root, "hv_abi", Value::from(p.hv_abi.clone()));
    if let Some(c) = &p.stream_commit {
        set(
            table(root, "stream", file)?,
            "commit",
            Value::from(c.clone()),
        );
    }
    let up = table(root, "upstream", file)?;
    set(up, "tag", Value::from(p.version.xen.upstream_tag()));
    set(up, "commit", pin_or_unpinned(&p.upstream_commit));
    set(up, "nar_sha256", pin_or_unpinned(&p.upstream_nar));
    let tb = table(up, "tarball", file)?;
    for key in ["url", "sig_url"] {
        if let Some(url) = tb.get(key).and_then(Item::as_str) {
            // The version appears in mirror URLs' paths and file names.
            let new = url.replace(&old.xen.to_string(), &p.version.xen.to_string());
            set(tb, key, Value::from(new));
        }
    }
    set(tb, "sha256", pin_or_unpinned(&p.tarball_sha256));
    Ok(doc.to_string())
}

pub fn rewrite_data(text: &str, file: &str, p: &DataPins) -> Result<String, EditError> {
    let mut doc = parse(text, file)?;
    let root = doc.as_table_mut();
    set_version(root, &p.version);
    let src = table(root, "source", file)?;
    if let Some(tag) = &p.tag {
        set(src, "tag", Value::from(tag.clone()));
    }
    set(src, "commit", Value::from(p.commit.clone()));
    set(src, "nar_sha256", Value::from(p.nar.clone()));
    let cfg = table(root, "config", file)?;
    set(cfg, "sha256", Value::from(p.config_sha256.clone()));

    // Rebuild the series; the first entry keeps the comment block above the old first entry.
    let old = root.get("patch").and_then(Item::as_array_of_tables);
    let first_decor = old.and_then(|a| a.get(0)).map(|t| t.decor().clone());
    let position = old.and_then(|a| a.get(0)).and_then(|t| t.position());
    let mut arr = ArrayOfTables::new();
    for (i, pp) in p.patches.iter().enumerate() {
        let mut t = Table::new();
        t.insert("number", value(i64::from(pp.number)));
        t.insert("file", value(pp.file.clone()));
        t.insert("sha256", value(pp.sha256.clone()));
        match (&first_decor, i) {
            (Some(d), 0) => *t.decor_mut() = d.clone(),
            _ => t.decor_mut().set_prefix("\n"),
        }
        if let Some(pos) = position {
            t.set_position(pos + i);
        }
        arr.push(t);
    }
    root.insert("patch", Item::ArrayOfTables(arr));
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_and_replaces_series() {
        let text = "# head\nschema = 1\nversion = \"4.17.4\" # trailing\nrel = 5\n\n[source]\ntag = \"v4.17.4-5\"\ncommit = \"a\"\n# nar comment\nnar_sha256 = \"b\"\n\n[config]\nsha256 = \"c\"\n\n# series comment\n\n[[patch]]\nnumber = 1\nfile = \"x\"\nsha256 = \"d\"\n";
        let p = DataPins {
            version: QubesVersion::parse("4.17.5-1").unwrap(),
            tag: Some("v4.17.5-1".into()),
            commit: "A".into(),
            nar: "B".into(),
            config_sha256: "C".into(),
            patches: vec![
                PatchPin {
                    number: 2,
                    file: "y".into(),
                    sha256: "E".into(),
                },
                PatchPin {
                    number: 3,
                    file: "z".into(),
                    sha256: "F".into(),
                },
            ],
        };
        let out = rewrite_data(text, "t.toml", &p).unwrap();
        assert_eq!(out, "# head\nschema = 1\nversion = \"4.17.5\" # trailing\nrel = 1\n\n[source]\ntag = \"v4.17.5-1\"\ncommit = \"A\"\n# nar comment\nnar_sha256 = \"B\"\n\n[config]\nsha256 = \"C\"\n\n# series comment\n\n[[patch]]\nnumber = 2\nfile = \"y\"\nsha256 = \"E\"\n\n[[patch]]\nnumber = 3\nfile = \"z\"\nsha256 = \"F\"\n");
    }
}
