//! Tokeniser for Kconfig files, following the rules of kconfig's lexer.l: keywords win ties
//! with words, words containing `$` are expanded as one token, strings expand references,
//! `name :=` switches to raw assignment values, help text ends by indentation.
//! Hand-written: the token rules are Kconfig's own and interleave with the preprocessor.
use crate::preprocess::Preprocessor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Eol,
    Eof,
    Word(String),
    Quote(String),
    Kw(&'static str),
    Op(&'static str),
    AssignVal(String),
}

const KEYWORDS: &[&str] = &[
    "allnoconfig_y",
    "bool",
    "choice",
    "comment",
    "config",
    "def_bool",
    "def_tristate",
    "default",
    "defconfig_list",
    "depends",
    "endchoice",
    "endif",
    "endmenu",
    "help",
    "---help---",
    "hex",
    "if",
    "imply",
    "int",
    "mainmenu",
    "menu",
    "menuconfig",
    "modules",
    "on",
    "option",
    "optional",
    "prompt",
    "range",
    "select",
    "source",
    "string",
    "tristate",
    "visible",
];

/// One open Kconfig file.
pub struct FileLexer {
    pub file: usize,
    pub name: String,
    src: Vec<u8>,
    pos: usize,
    pub line: usize,
    assign_mode: bool,
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl FileLexer {
    pub fn new(file: usize, name: String, src: Vec<u8>) -> Self {
        FileLexer {
            file,
            name,
            src,
            pos: 0,
            line: 1,
            assign_mode: false,
        }
    }

    pub fn set_assign_mode(&mut self) {
        self.assign_mode = true;
    }

    fn rest_of_line(&self) -> &[u8] {
        let end = self.src[self.pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(self.src.len(), |i| self.pos + i);
        &self.src[self.pos..end]
    }

    /// Next token; warnings (ignored characters, unterminated strings) go to `warn`.
    pub fn next(&mut self, pp: &mut Preprocessor, warn: &mut Vec<String>) -> Result<Tok, String> {
        if self.assign_mode {
            self.assign_mode = false;
            while matches!(self.src.get(self.pos), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            let val = String::from_utf8_lossy(self.rest_of_line()).into_owned();
            self.pos += val.len();
            if !val.is_empty() {
                return Ok(Tok::AssignVal(val));
            }
        }
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Ok(Tok::Eof);
            };
            pp.line = self.line;
            match c {
                b'#' => {
                    let l = self.rest_of_line().len();
                    self.pos += l;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.src.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(Tok::Eol);
                }
                b'"' | b'\'' => return self.string(c, pp, warn),
                _ if is_name(c) || c == b'$' => {
                    let start = self.pos;
                    let mut end = start;
                    let mut dollar = false;
                    while let Some(&d) = self.src.get(end) {
                        if is_name(d) {
                            end += 1;
                        } else if d == b'$' {
                            dollar = true;
                            end += 1;
                        } else {
                            break;
                        }
                    }
                    if !dollar {
                        self.pos = end;
                        let w = std::str::from_utf8(&self.src[start..end]).unwrap_or("");
                        if let Some(k) = KEYWORDS.iter().find(|k| **k == w) {
                            return Ok(Tok::Kw(if *k == "---help---" { "help" } else { k }));
                        }
                        return Ok(Tok::Word(w.to_string()));
                    }
                    let line = self.rest_of_line().to_vec();
                    let (w, used) = pp.expand_one_token(&line)?;
                    self.pos += used.max(1);
                    if !w.is_empty() {
                        return Ok(Tok::Word(w));
                    }
                }
                _ => {
                    let two = self.src.get(self.pos + 1).copied();
                    let op: Option<(&'static str, usize)> = match (c, two) {
                        (b'|', Some(b'|')) => Some(("||", 2)),
                        (b'&', Some(b'&')) => Some(("&&", 2)),
                        (b'!', Some(b'=')) => Some(("!=", 2)),
                        (b'<', Some(b'=')) => Some(("<=", 2)),
                        (b'>', Some(b'=')) => Some((">=", 2)),
                        (b':', Some(b'=')) => Some((":=", 2)),
                        (b'+', Some(b'=')) => Some(("+=", 2)),
                        (b'=', _) => Some(("=", 1)),
                        (b'<', _) => Some(("<", 1)),
                        (b'>', _) => Some((">", 1)),
                        (b'!', _) => Some(("!", 1)),
                        (b'(', _) => Some(("(", 1)),
                        (b')', _) => Some((")", 1)),
                        _ => None,
                    };
                    match op {
                        Some((o, n)) => {
                            self.pos += n;
                            return Ok(Tok::Op(o));
                        }
                        None => {
                            if c != b'\r' {
                                warn.push(format!(
                                    "{}:{}:warning: ignoring unsupported character '{}'",
                                    self.name, self.line, c as char
                                ));
                            }
                            self.pos += 1;
                        }
                    }
                }
            }
        }
    }

    fn string(
        &mut self,
        quote: u8,
        pp: &mut Preprocessor,
        warn: &mut Vec<String>,
    ) -> Result<Tok, String> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Ok(Tok::Quote(String::from_utf8_lossy(&out).into_owned()));
            };
            match c {
                b'$' => {
                    let line = self.rest_of_line()[1..].to_vec();
                    let (exp, used) = pp.expand_dollar(&line, &[])?;
                    out.extend_from_slice(exp.as_bytes());
                    self.pos += 1 + used;
                }
                b'\\' => match self.src.get(self.pos + 1) {
                    Some(b'\n') | None => {
                        self.pos += 1;
                    }
                    Some(&d) => {
                        out.push(d);
                        self.pos += 2;
                    }
                },
                b'\n' => {
                    warn.push(format!(
                        "{}:{}:warning: multi-line strings not supported",
                        self.name, self.line
                    ));
                    return Ok(Tok::Quote(String::from_utf8_lossy(&out).into_owned()));
                }
                _ if c == quote => {
                    self.pos += 1;
                    return Ok(Tok::Quote(String::from_utf8_lossy(&out).into_owned()));
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// Reads a help text right after `help` + newline: it ends before the first non-blank
    /// line indented less than the first line, or starting in column 0 (after the first).
    pub fn help_text(&mut self) -> String {
        let mut text = String::new();
        let mut first_ts: Option<usize> = None;
        let mut first_line = true;
        loop {
            if self.pos >= self.src.len() {
                break;
            }
            let line = self.rest_of_line();
            let mut ts = 0;
            let mut i = 0;
            while let Some(&c) = line.get(i) {
                match c {
                    b'\t' => ts = (ts & !7) + 8,
                    b' ' => ts += 1,
                    _ => break,
                }
                i += 1;
            }
            let blank = line[i..]
                .iter()
                .all(|c| *c == b' ' || *c == b'\t' || *c == b'\r');
            if blank {
                // A blank line ends the help if the next line starts in column 0.
                let next = self.pos + line.len() + 1;
                let next_starts_text =
                    matches!(self.src.get(next), Some(c) if !matches!(c, b' ' | b'\t' | b'\n'));
                let ll = line.len();
                self.pos += ll;
                if self.pos < self.src.len() {
                    self.pos += 1;
                    self.line += 1;
                }
                if next_starts_text {
                    break;
                }
                text.push('\n');
                continue;
            }
            if !first_line && ts == 0 {
                break;
            }
            if let Some(f) = first_ts {
                if ts < f {
                    break;
                }
            }
            if first_ts.is_none() || first_ts == Some(0) {
                first_ts = Some(ts);
            }
            let content = String::from_utf8_lossy(&line[i..]).trim_end().to_string();
            text.push_str(&" ".repeat(ts - first_ts.unwrap_or(ts)));
            text.push_str(&content);
            text.push('\n');
            let ll = line.len();
            self.pos += ll;
            if self.pos < self.src.len() {
                self.pos += 1;
                self.line += 1;
            }
            first_line = false;
        }
        text
    }
}
