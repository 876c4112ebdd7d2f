//! URL prefix rewriting (`--url-rewrite FROM=TO`, `PACKAGE_DEFS_URL_REWRITE="FROM=TO;FROM2=TO2"`).

/// The environment variable holding `;`-separated `FROM=TO` pairs.
pub const URL_REWRITE_ENV: &str = "PACKAGE_DEFS_URL_REWRITE";

/// A `FROM=TO` pair that does not parse; names the pair and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad URL rewrite `{pair}` from {origin}: {why}; expected FROM=TO, e.g. https://github.com/=http://127.0.0.1:8080/")]
pub struct RewriteError {
    /// The pair as given.
    pub pair: String,
    /// Where it came from: `--url-rewrite` or the environment variable.
    pub origin: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Prefix rewrite rules. The longest matching `FROM` wins; on equal length the rule added first
/// wins, so [`UrlRewrites::from_args_and_env`] lets command-line rules beat the environment's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlRewrites {
    rules: Vec<(String, String)>,
}

impl UrlRewrites {
    /// No rules: URLs pass unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse one `FROM=TO` pair (split at the first `=`; `FROM` must be non-empty).
    pub fn parse_pair(pair: &str, origin: &str) -> Result<(String, String), RewriteError> {
        let err = |why| RewriteError {
            pair: pair.to_owned(),
            origin: origin.to_owned(),
            why,
        };
        let (from, to) = pair.split_once('=').ok_or_else(|| err("no `=`"))?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() {
            return Err(err("FROM is empty"));
        }
        if to.is_empty() {
            return Err(err("TO is empty"));
        }
        Ok((from.to_owned(), to.to_owned()))
    }

    /// Add a rule.
    pub fn push(&mut self, from: impl Into<String>, to: impl Into<String>) {
        self.rules.push((from.into(), to.into()));
    }

    /// Add `;`-separated pairs (empty items are skipped); `origin` names the source in errors.
    pub fn extend_from_list(&mut self, list: &str, origin: &str) -> Result<(), RewriteError> {
        for pair in list.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (f, t) = Self::parse_pair(pair, origin)?;
            self.push(f, t);
        }
        Ok(())
    }

    /// Command-line pairs first (they win ties), then the pairs of `env_value` (the value of
    /// [`URL_REWRITE_ENV`], if set).
    pub fn from_args_and_env(
        args: &[String],
        env_value: Option<&str>,
    ) -> Result<Self, RewriteError> {
        let mut r = Self::new();
        for a in args {
            let (f, t) = Self::parse_pair(a, "--url-rewrite")?;
            r.push(f, t);
        }
        if let Some(v) = env_value {
            r.extend_from_list(v, URL_REWRITE_ENV)?;
        }
        Ok(r)
    }

    /// [`Self::from_args_and_env`] reading the real environment.
    pub fn from_args_and_process_env(args: &[String]) -> Result<Self, RewriteError> {
        let env = std::env::var(URL_REWRITE_ENV).ok();
        Self::from_args_and_env(args, env.as_deref())
    }

    /// The rewritten URL (or `url` unchanged when no rule matches). Applied once, not repeatedly.
    pub fn apply(&self, url: &str) -> String {
        let mut best: Option<&(String, String)> = None;
        for rule in &self.rules {
            if url.starts_with(rule.0.as_str()) && best.is_none_or(|b| rule.0.len() > b.0.len()) {
                best = Some(rule);
            }
        }
        match best {
            Some((from, to)) => format!("{to}{}", &url[from.len()..]),
            None => url.to_owned(),
        }
    }

    /// The rules in order.
    pub fn rules(&self) -> &[(String, String)] {
        &self.rules
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
