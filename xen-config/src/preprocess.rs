//! The Kconfig preprocessor: `$(...)` references, `:=`/`=`/`+=` variables, built-in
//! functions and environment variables, with the semantics of kconfig's preprocess.c.
//! Hand-written: no crate implements Kconfig's macro language.
use std::collections::BTreeMap;

use crate::probe::ShellProbe;

/// How a variable's value is expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `:=` — expanded once, when assigned.
    Simple,
    /// `=` — expanded at every use (and can take arguments: a user function).
    Recursive,
    /// `+=` — appends, keeping the existing flavor.
    Append,
}

#[derive(Debug)]
struct Variable {
    name: String,
    value: String,
    flavor: Flavor,
    exp_count: u32,
}

/// Preprocessor state for one parse: variables, the environment it may read and the probe
/// answering `$(shell,...)`.
pub struct Preprocessor<'p> {
    vars: Vec<Variable>,
    env: BTreeMap<String, String>,
    shell: &'p mut dyn ShellProbe,
    /// Environment variables the tree actually read, with the values it saw.
    pub env_used: BTreeMap<String, String>,
    /// Output of `$(info,...)` and `$(warning-if,...)`.
    pub messages: Vec<String>,
    /// How many `$(shell,...)` calls ran, to tell which values depend on the host.
    pub shell_calls: usize,
    /// Current file and line, for `$(filename)`, `$(lineno)` and error messages.
    pub file: String,
    pub line: usize,
}

const MAX_ARGS: usize = 16;

impl<'p> Preprocessor<'p> {
    pub fn new(env: BTreeMap<String, String>, shell: &'p mut dyn ShellProbe) -> Self {
        Preprocessor {
            vars: Vec::new(),
            env,
            shell,
            env_used: BTreeMap::new(),
            messages: Vec::new(),
            shell_calls: 0,
            file: String::new(),
            line: 0,
        }
    }

    fn err(&self, msg: impl Into<String>) -> String {
        msg.into()
    }

    /// Defines or updates a variable (`name := value` and friends).
    pub fn add_variable(&mut self, name: &str, value: &str, flavor: Flavor) -> Result<(), String> {
        let idx = self.vars.iter().position(|v| v.name == name);
        let (flavor, append) = match (idx, flavor) {
            (Some(i), Flavor::Append) => (self.vars[i].flavor, true),
            (None, Flavor::Append) => (Flavor::Recursive, false),
            (_, f) => (f, false),
        };
        let new_value = if flavor == Flavor::Simple {
            self.expand_string(value, &[])?
        } else {
            value.to_string()
        };
        match idx {
            Some(i) => {
                let v = &mut self.vars[i];
                v.flavor = flavor;
                if append {
                    v.value.push(' ');
                    v.value.push_str(&new_value);
                } else {
                    v.value = new_value;
                }
            }
            None => self.vars.push(Variable {
                name: name.to_string(),
                value: new_value,
                flavor,
                exp_count: 0,
            }),
        }
        Ok(())
    }

    /// Expands every reference in `input`.
    pub fn expand_string(&mut self, input: &str, args: &[String]) -> Result<String, String> {
        let (s, _) = self.expand_until(input.as_bytes(), args, |_| false)?;
        Ok(s)
    }

    /// Expands one token: stops at the first character that cannot be part of a symbol
    /// name outside a reference. Returns the expansion and the number of bytes consumed.
    pub fn expand_one_token(&mut self, input: &[u8]) -> Result<(String, usize), String> {
        self.expand_until(input, &[], |c| {
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        })
    }

    /// Expands the reference starting right after a `$`; returns (expansion, bytes consumed).
    pub fn expand_dollar(
        &mut self,
        input: &[u8],
        args: &[String],
    ) -> Result<(String, usize), String> {
        if input.first() != Some(&b'(') {
            return Ok(("$".to_string(), 0));
        }
        let mut nest = 0i32;
        let mut q = 1;
        loop {
            match input.get(q) {
                None => {
                    return Err(self.err(format!(
                        "unterminated reference to '{}': missing ')'",
                        String::from_utf8_lossy(&input[1..])
                    )))
                }
                Some(b'(') => nest += 1,
                Some(b')') => {
                    if nest == 0 {
                        break;
                    }
                    nest -= 1;
                }
                _ => {}
            }
            q += 1;
        }
        let clause = String::from_utf8_lossy(&input[1..q]).into_owned();
        let res = self.eval_clause(&clause, args)?;
        Ok((res, q + 1))
    }

    fn expand_until(
        &mut self,
        input: &[u8],
        args: &[String],
        is_end: impl Fn(u8) -> bool,
    ) -> Result<(String, usize), String> {
        let mut out: Vec<u8> = Vec::new();
        let mut p = 0;
        loop {
            match input.get(p) {
                Some(b'$') => {
                    let (exp, used) = self.expand_dollar(&input[p + 1..], args)?;
                    out.extend_from_slice(exp.as_bytes());
                    p += 1 + used;
                }
                None => break,
                Some(&c) if is_end(c) => break,
                Some(&c) => {
                    out.push(c);
                    p += 1;
                }
            }
        }
        Ok((String::from_utf8_lossy(&out).into_owned(), p))
    }

    fn eval_clause(&mut self, clause: &str, args: &[String]) -> Result<String, String> {
        if let Ok(n) = clause.parse::<usize>() {
            if n > 0 && n <= args.len() && clause.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(args[n - 1].clone());
            }
        }
        let mut parts: Vec<&str> = Vec::new();
        let mut nest = 0i32;
        let mut start = 0;
        for (i, b) in clause.bytes().enumerate() {
            match b {
                b',' if nest == 0 => {
                    if parts.len() >= MAX_ARGS {
                        return Err(self.err("too many function arguments"));
                    }
                    parts.push(&clause[start..i]);
                    start = i + 1;
                }
                b'(' => nest += 1,
                b')' => nest -= 1,
                _ => {}
            }
        }
        parts.push(&clause[start..]);
        let name = self.expand_string(parts[0], args)?;
        let mut new_args = Vec::with_capacity(parts.len() - 1);
        for p in &parts[1..] {
            new_args.push(self.expand_string(p, args)?);
        }
        if let Some(r) = self.variable_expand(&name, &new_args)? {
            return Ok(r);
        }
        if let Some(r) = self.function_expand(&name, &new_args)? {
            return Ok(r);
        }
        if new_args.is_empty() {
            if let Some(v) = self.env.get(&name) {
                let v = v.clone();
                self.env_used.insert(name, v.clone());
                return Ok(v);
            }
        }
        Ok(String::new())
    }

    fn variable_expand(&mut self, name: &str, args: &[String]) -> Result<Option<String>, String> {
        let Some(i) = self.vars.iter().position(|v| v.name == name) else {
            return Ok(None);
        };
        if args.is_empty() && self.vars[i].exp_count > 0 {
            return Err(self.err(format!(
                "Recursive variable '{name}' references itself (eventually)"
            )));
        }
        if self.vars[i].exp_count > 1000 {
            return Err(self.err("Too deep recursive expansion"));
        }
        self.vars[i].exp_count += 1;
        let res = if self.vars[i].flavor == Flavor::Recursive {
            let value = self.vars[i].value.clone();
            self.expand_string(&value, args)
        } else {
            Ok(self.vars[i].value.clone())
        };
        self.vars[i].exp_count -= 1;
        res.map(Some)
    }

    fn function_expand(&mut self, name: &str, args: &[String]) -> Result<Option<String>, String> {
        let (min, max) = match name {
            "error-if" | "warning-if" => (2, 2),
            "filename" | "lineno" => (0, 0),
            "info" | "shell" => (1, 1),
            _ => return Ok(None),
        };
        if args.len() < min {
            return Err(self.err(format!("too few function arguments passed to '{name}'")));
        }
        if args.len() > max {
            return Err(self.err(format!("too many function arguments passed to '{name}'")));
        }
        Ok(Some(match name {
            "error-if" => {
                if args[0] == "y" {
                    return Err(args[1].clone());
                }
                String::new()
            }
            "warning-if" => {
                if args[0] == "y" {
                    self.messages
                        .push(format!("{}:{}: {}", self.file, self.line, args[1]));
                }
                String::new()
            }
            "filename" => self.file.clone(),
            "lineno" => self.line.to_string(),
            "info" => {
                self.messages.push(args[0].clone());
                String::new()
            }
            "shell" => {
                self.shell_calls += 1;
                let mut out = self
                    .shell
                    .run(&args[0])
                    .map_err(|e| format!("$(shell,{}) failed: {e}", args[0]))?;
                // conf reads at most 255 bytes, drops trailing newlines, joins lines with spaces.
                out.truncate(255);
                while out.last() == Some(&b'\n') {
                    out.pop();
                }
                for b in out.iter_mut() {
                    if *b == b'\n' {
                        *b = b' ';
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            _ => unreachable!("function table covers the names matched above"),
        }))
    }
}
