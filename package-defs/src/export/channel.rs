//! Where the Guix channel's modules go: the `(directory "...")` of the repository's
//! `.guix-channel`, the one place that names it (`export guix` and the bot read it here).

use std::path::{Component, Path, PathBuf};

/// The channel file at a repository's root.
pub const CHANNEL_FILE: &str = ".guix-channel";

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {found}; expected `(channel (version 0) (directory \"DIR\"))` with DIR a folder inside the repository", path.display())]
    Malformed { path: PathBuf, found: String },
}

/// The channel directory of the repository at `root`, relative to it: `.guix-channel`'s
/// `directory`, or the root itself when it names none (as Guix reads it); `None` when `root`
/// is not a channel (no `.guix-channel`).
pub fn directory(root: &Path) -> Result<Option<PathBuf>, ChannelError> {
    let path = root.join(CHANNEL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ChannelError::Read { path, source }),
    };
    let malformed = |found: String| ChannelError::Malformed {
        path: path.clone(),
        found,
    };
    let tokens = tokens(&text).map_err(malformed)?;
    if tokens.first().map(String::as_str) != Some("(")
        || tokens.get(1).map(String::as_str) != Some("channel")
    {
        return Err(malformed("no `(channel ...)` form".into()));
    }
    let Some(at) = tokens
        .windows(2)
        .position(|w| w[0] == "(" && w[1] == "directory")
    else {
        return Ok(Some(PathBuf::new()));
    };
    let dir = match (tokens.get(at + 2), tokens.get(at + 3).map(String::as_str)) {
        (Some(s), Some(")")) if s.starts_with('"') => PathBuf::from(&s[1..]),
        _ => {
            return Err(malformed(
                "`(directory ...)` does not hold one string".into(),
            ))
        }
    };
    if !dir.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(malformed(format!(
            "directory {:?} leaves the repository",
            dir.display().to_string()
        )));
    }
    Ok(Some(dir))
}

/// Scheme tokens: `(`, `)`, strings (kept with their opening `"`, escapes resolved) and
/// atoms; `;` comments dropped.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ';' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | ')' => out.push(c.to_string()),
            '"' => {
                let mut s = String::from('"');
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => s.extend(chars.next()),
                        Some(c) => s.push(c),
                        None => return Err("a string is not closed".into()),
                    }
                }
                out.push(s);
            }
            c if c.is_whitespace() => {}
            c => {
                let mut atom = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || n == '(' || n == ')' || n == '"' || n == ';' {
                        break;
                    }
                    atom.push(n);
                    chars.next();
                }
                out.push(atom);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_of(text: &str) -> Result<Option<PathBuf>, String> {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(CHANNEL_FILE), text).unwrap();
        directory(d.path()).map_err(|e| e.to_string())
    }

    #[test]
    fn the_directory_is_read_from_the_channel_file() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(directory(&shipped).unwrap(), Some(PathBuf::from("guix")));
        assert_eq!(
            dir_of(";; (directory \"no\")\n(channel (version 0) (directory \"scm/mods\"))")
                .unwrap(),
            Some(PathBuf::from("scm/mods"))
        );
        assert_eq!(
            dir_of("(channel (version 0))").unwrap(),
            Some(PathBuf::new())
        );
        assert_eq!(
            directory(tempfile::tempdir().unwrap().path()).unwrap(),
            None
        );
        for bad in [
            "(channel (directory \"../x\"))",
            "(channel (directory \"/x\"))",
            "(channel (directory x))",
            "(channel (directory \"x",
            "(other)",
        ] {
            let e = dir_of(bad).unwrap_err();
            assert!(
                e.contains(".guix-channel: ") && e.contains("expected `(channel"),
                "{bad}: {e}"
            );
        }
    }
}
