//! Client-side path checks mirroring xenstored's, so a bad path fails with a message that
//! says why instead of a bare `EINVAL` from the daemon.

use crate::error::{Error, Result};
use crate::wire::{ABS_PATH_MAX, REL_PATH_MAX};

/// Checks a node path (absolute `/a/b` or relative to the domain's home `a/b`).
/// Special watch paths (`@introduceDomain`) are accepted only where `allow_special` is set.
pub fn check(path: &str, allow_special: bool) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return bad("path is empty".into());
    }
    if let Some(rest) = path.strip_prefix('@') {
        if !allow_special {
            return bad("special @ paths are only valid for watches".into());
        }
        if rest.is_empty() || !rest.bytes().all(valid_char) || rest.contains('/') {
            return bad("special paths look like @introduceDomain".into());
        }
        return Ok(());
    }
    let (limit, kind) = if path.starts_with('/') {
        (ABS_PATH_MAX, "absolute")
    } else {
        (REL_PATH_MAX, "relative")
    };
    if path.len() > limit {
        return bad(format!(
            "{} bytes long; {kind} paths may be at most {limit}",
            path.len()
        ));
    }
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii() || !valid_char(*c as u8))
    {
        return bad(format!(
            "character {c:?} is not allowed (use letters, digits, - _ @ and /)"
        ));
    }
    if path.contains("//") {
        return bad("contains an empty component (//)".into());
    }
    if path.len() > 1 && path.ends_with('/') {
        return bad("ends with /".into());
    }
    Ok(())
}

fn valid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@')
}

/// Joins a directory and a child name the way listings need it.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        for p in [
            "/",
            "/local/domain/0/name",
            "device/vif/0",
            "@introduceDomain",
        ] {
            check(p, true).unwrap();
        }
    }

    #[test]
    fn rejects_with_reason() {
        let cases = [
            ("", "empty"),
            ("/a//b", "empty component"),
            ("/a/", "ends with"),
            ("/a b", "not allowed"),
            ("@x", "only valid for watches"),
        ];
        for (p, why) in cases {
            let e = check(p, false).unwrap_err().to_string();
            assert!(e.contains(why), "{p:?}: {e}");
        }
        let long = format!("/{}", "a".repeat(ABS_PATH_MAX));
        assert!(check(&long, false)
            .unwrap_err()
            .to_string()
            .contains("at most 3072"));
        let rel = "a".repeat(REL_PATH_MAX + 1);
        assert!(check(&rel, false)
            .unwrap_err()
            .to_string()
            .contains("at most 2048"));
    }

    #[test]
    fn joins() {
        assert_eq!(join("/", "local"), "/local");
        assert_eq!(join("/local", "domain"), "/local/domain");
    }
}
