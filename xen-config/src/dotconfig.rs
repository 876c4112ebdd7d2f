//! Reading and writing `.config` files the way kconfig's confdata.c does, and the two
//! operations built on them: `olddefconfig` and `savedefconfig`.
use std::collections::BTreeMap;
use std::path::Path;

use crate::model::*;
use crate::parser::resolve;

/// Where `olddefconfig` takes its input from.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// An existing `.config` (its bytes).
    Config(&'a [u8]),
    /// No `.config`: conf falls back to the `option defconfig_list` files.
    Missing,
}

/// Result of reading a configuration: warnings as conf prints them.
#[derive(Debug, Default, Clone)]
pub struct ReadReport {
    /// `file:line:warning: ...` lines.
    pub warnings: Vec<String>,
    /// The defconfig file used when no `.config` existed.
    pub used_defaults_from: Option<String>,
    /// Symbols named in the input that the tree does not know.
    pub unknown_symbols: Vec<String>,
}

impl Kconfig {
    fn reset_user_values(&mut self) {
        for sym in self.syms.iter_mut().skip(SYM_Y + 1) {
            sym.flags &= !(F_DEF_USER | F_VALID);
            if sym.is_choice() {
                sym.flags |= F_DEF_USER;
            }
            sym.user_val = None;
            sym.user_tri = Tri::No;
            sym.user_choice = None;
        }
    }

    /// The symbol a `.config` line assigns, as conf finds it: an unknown name is recorded
    /// (and marks the config changed), a second assignment warns as conf does.
    fn assigned(
        &mut self,
        name: String,
        rep: &mut ReadReport,
        warn: &mut dyn FnMut(&mut ReadReport, String),
    ) -> Option<usize> {
        let Some(s) = self.find(&name) else {
            self.changed = true;
            rep.unknown_symbols.push(name);
            return None;
        };
        if self.syms[s].flags & F_DEF_USER != 0 {
            warn(rep, format!("override: reassigning to symbol {name}"));
        }
        Some(s)
    }

    /// `conf_read_simple` of a buffer named `name` (for messages).
    fn read_simple(&mut self, name: &str, data: &[u8], rep: &mut ReadReport) {
        self.reset_user_values();
        let warn = |rep: &mut ReadReport, line: usize, msg: String| {
            rep.warnings.push(format!("{name}:{line}:warning: {msg}"));
        };
        let mut lineno = 0;
        for raw in split_lines(data) {
            lineno += 1;
            let line: &[u8] = raw;
            let sym;
            if line.first() == Some(&b'#') {
                let Some(rest) = line.get(2..) else { continue };
                let Some(rest) = rest.strip_prefix(b"CONFIG_") else {
                    continue;
                };
                let Some(sp) = rest.iter().position(|&c| c == b' ') else {
                    continue;
                };
                if !rest[sp + 1..].starts_with(b"is not set") {
                    continue;
                }
                let name_s = String::from_utf8_lossy(&rest[..sp]).into_owned();
                let Some(s) = self.assigned(name_s, rep, &mut |rep, msg| warn(rep, lineno, msg))
                else {
                    continue;
                };
                if self.syms[s].typ == SymType::Bool {
                    self.syms[s].user_tri = Tri::No;
                    self.syms[s].flags |= F_DEF_USER;
                }
                sym = s;
            } else if let Some(rest) = line.strip_prefix(b"CONFIG_") {
                let Some(eq) = rest.iter().position(|&c| c == b'=') else {
                    continue;
                };
                let name_s = String::from_utf8_lossy(&rest[..eq]).into_owned();
                let mut val: &[u8] = &rest[eq + 1..];
                if let Some(nl) = val.iter().position(|&c| c == b'\n') {
                    val = &val[..nl];
                    if val.last() == Some(&b'\r') {
                        val = &val[..val.len() - 1];
                    }
                }
                let Some(s) = self.assigned(name_s, rep, &mut |rep, msg| warn(rep, lineno, msg))
                else {
                    continue;
                };
                if let Err(msg) = self.set_user_value(s, val) {
                    warn(rep, lineno, msg);
                    continue;
                }
                sym = s;
            } else {
                if !matches!(line.first(), Some(b'\r' | b'\n')) {
                    let end = line
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(line.len());
                    warn(
                        rep,
                        lineno,
                        format!("unexpected data: {}", String::from_utf8_lossy(&line[..end])),
                    );
                }
                continue;
            }
            if self.syms[sym].is_choice_value() {
                let cs = self.syms[sym]
                    .choice
                    .expect("choice values know their choice");
                let t = self.syms[sym].user_tri;
                match t {
                    Tri::No => {}
                    Tri::Mod => {
                        if self.syms[cs].user_tri == Tri::Yes {
                            let n = self.syms[sym].display_name().to_string();
                            warn(
                                rep,
                                lineno,
                                format!("{n} creates inconsistent choice state"),
                            );
                            self.syms[cs].flags &= !F_DEF_USER;
                        }
                    }
                    Tri::Yes => {
                        if self.syms[cs].user_tri != Tri::No {
                            let n = self.syms[sym].display_name().to_string();
                            warn(rep, lineno, format!("override: {n} changes choice state"));
                        }
                        self.syms[cs].user_choice = Some(sym);
                    }
                }
                self.syms[cs].user_tri = self.syms[cs].user_tri.or(t);
            }
        }
    }

    /// `conf_set_sym_val`; `Err` is conf's warning text.
    fn set_user_value(&mut self, s: SymId, p: &[u8]) -> Result<(), String> {
        let typ = self.syms[s].typ;
        let name = self.syms[s].display_name().to_string();
        match typ {
            SymType::Bool => {
                let t = match p.first() {
                    Some(b'y') => Tri::Yes,
                    Some(b'n') => Tri::No,
                    _ => {
                        return Err(format!(
                            "symbol value '{}' invalid for {name}",
                            String::from_utf8_lossy(p)
                        ))
                    }
                };
                self.syms[s].user_tri = t;
                self.syms[s].flags |= F_DEF_USER;
            }
            SymType::String => {
                if p.first() != Some(&b'"') {
                    return Ok(());
                }
                let mut out = Vec::new();
                let mut i = 1;
                let mut closed = false;
                while i < p.len() {
                    match p[i] {
                        b'"' => {
                            closed = true;
                            break;
                        }
                        b'\\' => {
                            if let Some(&c) = p.get(i + 1) {
                                out.push(c);
                            }
                            i += 2;
                        }
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return Err("invalid string found".into());
                }
                self.syms[s].user_val = Some(String::from_utf8_lossy(&out).into_owned());
                self.syms[s].flags |= F_DEF_USER;
            }
            SymType::Int | SymType::Hex => {
                let v = String::from_utf8_lossy(p).into_owned();
                if Self::string_valid(typ, &v) {
                    self.syms[s].user_val = Some(v);
                    self.syms[s].flags |= F_DEF_USER;
                } else {
                    return Err(format!("symbol value '{v}' invalid for {name}"));
                }
            }
            SymType::Unknown => {}
        }
        Ok(())
    }

    /// `conf_read(NULL)`: reads a `.config` (or the defconfig_list fallback under `root`)
    /// and settles which user values survive.
    pub fn read_config(&mut self, input: Input<'_>, root: &Path) -> ReadReport {
        let mut rep = ReadReport::default();
        self.changed = false;
        let loaded = match input {
            Input::Config(data) => {
                self.read_simple(".config", data, &mut rep);
                true
            }
            Input::Missing => {
                self.changed = true;
                let mut loaded = false;
                if let Some(dl) = self.defconfig_list {
                    for p in self.syms[dl].props.clone() {
                        if self.props[p].kind != PropKind::Default {
                            continue;
                        }
                        if self.calc_expr(self.props[p].visible) == Tri::No {
                            continue;
                        }
                        let Some(Expr::Sym(ds)) = self.props[p].expr.map(|e| self.exprs[e]) else {
                            continue;
                        };
                        self.calc_value(ds);
                        let name = self.string_value(ds);
                        let srctree = self.env_used.get("srctree").cloned();
                        if let Some(path) = resolve(root, srctree.as_deref(), &name) {
                            if let Ok(data) = std::fs::read(&path) {
                                rep.used_defaults_from = Some(name.clone());
                                self.read_simple(&name, &data, &mut rep);
                                loaded = true;
                                break;
                            }
                        }
                    }
                }
                loaded
            }
        };
        if !loaded {
            return rep;
        }
        let mut unsaved = 0usize;
        let n = self.syms.len();
        for s in SYM_Y + 1..n {
            self.calc_value(s);
            let sym = &self.syms[s];
            if sym.is_choice() || sym.flags & F_NO_WRITE != 0 {
                continue;
            }
            if sym.has_value() && sym.flags & F_WRITE != 0 {
                let same = match sym.typ {
                    SymType::Bool => {
                        let cur = if sym.curr_tri == Tri::Yes {
                            Tri::Yes
                        } else {
                            sym.curr_tri
                        };
                        sym.user_tri == cur
                    }
                    _ => sym.user_val.as_deref() == Some(sym.curr_val.as_str()),
                };
                if same {
                    continue;
                }
            } else if !sym.has_value() && sym.flags & F_WRITE == 0 {
                continue;
            }
            unsaved += 1;
        }
        for s in SYM_Y + 1..n {
            if self.syms[s].has_value() && !self.syms[s].is_choice_value() {
                if self.syms[s].visible == Tri::No && unsaved == 0 {
                    self.syms[s].flags &= !F_DEF_USER;
                }
                if matches!(
                    self.syms[s].typ,
                    SymType::String | SymType::Int | SymType::Hex
                ) {
                    let v = self.syms[s].user_val.clone().unwrap_or_default();
                    if !self.string_within_range(s, &v) {
                        self.syms[s].flags &= !(F_VALID | F_DEF_USER);
                        unsaved += 1;
                    }
                }
            }
        }
        if !rep.warnings.is_empty() || unsaved > 0 {
            self.changed = true;
        }
        rep
    }

    fn is_menu_visible(&mut self, m: MenuId) -> bool {
        let Some(p) = self.menus[m].prompt else {
            return false;
        };
        if let Some(v) = self.menus[m].visibility {
            if self.calc_expr(Some(v)) == Tri::No {
                return false;
            }
        }
        let visible = match self.menus[m].sym {
            Some(s) => {
                self.calc_value(s);
                self.props[p].visible_tri
            }
            None => {
                let v = self.calc_expr(self.props[p].visible);
                self.props[p].visible_tri = v;
                v
            }
        };
        if visible != Tri::No {
            return true;
        }
        let Some(s) = self.menus[m].sym else {
            return false;
        };
        if self.syms[s].curr_tri == Tri::No {
            return false;
        }
        for c in self.menus[m].children.clone() {
            if self.is_menu_visible(c) {
                self.syms[s].flags |= F_DEF_USER;
                return true;
            }
        }
        false
    }

    /// The `.config` text `conf_write` produces for the current values.
    pub fn write_config(&mut self) -> String {
        let mut out = String::new();
        let title = self.menu_prompt(ROOT).unwrap_or("").to_string();
        let mut heading = format!("\nAutomatically generated file; DO NOT EDIT.\n{title}\n");
        truncate_c(&mut heading, 255);
        print_comment(&mut out, &heading);
        if !self.changed {
            self.clear_all_valid();
        }
        let mut need_newline = false;
        for c in self.menus[ROOT].children.clone() {
            self.write_menu(c, &mut out, &mut need_newline);
        }
        for sym in self.syms.iter_mut() {
            sym.flags &= !F_WRITTEN;
        }
        self.changed = false;
        out
    }

    fn write_menu(&mut self, m: MenuId, out: &mut String, need_newline: &mut bool) {
        match self.menus[m].sym {
            None => {
                if self.is_menu_visible(m) {
                    let text = self.menu_prompt(m).unwrap_or("");
                    out.push_str(&format!("\n#\n# {text}\n#\n"));
                    *need_newline = false;
                }
            }
            Some(s) if self.syms[s].flags & (F_CHOICE | F_WRITTEN) == 0 => {
                self.calc_value(s);
                if self.syms[s].flags & F_WRITE != 0 {
                    if *need_newline {
                        out.push('\n');
                        *need_newline = false;
                    }
                    self.syms[s].flags |= F_WRITTEN;
                    self.write_symbol(s, out, false);
                }
            }
            Some(_) => {}
        }
        let children = self.menus[m].children.clone();
        if children.is_empty() {
            return;
        }
        for c in children {
            self.write_menu(c, out, need_newline);
        }
        if self.menus[m].sym.is_none() && self.is_menu_visible(m) {
            let text = self.menu_prompt(m).unwrap_or("");
            out.push_str(&format!("# end of {text}\n"));
            *need_newline = true;
        }
    }

    fn write_symbol(&self, s: SymId, out: &mut String, skip_unset: bool) {
        let sym = &self.syms[s];
        let name = sym.display_name();
        match sym.typ {
            SymType::Unknown => {}
            SymType::Bool => {
                if sym.curr_tri == Tri::Yes {
                    out.push_str(&format!("CONFIG_{name}=y\n"));
                } else if !skip_unset {
                    out.push_str(&format!("# CONFIG_{name} is not set\n"));
                }
            }
            SymType::String => {
                out.push_str(&format!("CONFIG_{name}={}\n", escape_string(&sym.curr_val)));
            }
            SymType::Int | SymType::Hex => {
                out.push_str(&format!("CONFIG_{name}={}\n", sym.curr_val));
            }
        }
    }

    /// The minimal configuration `conf_write_defconfig` (savedefconfig) produces.
    pub fn write_defconfig(&mut self) -> String {
        let mut out = String::new();
        self.clear_all_valid();
        let mut order = Vec::new();
        collect_dfs(self, ROOT, &mut order);
        for m in order {
            let Some(s) = self.menus[m].sym else { continue };
            if self.syms[s].is_choice() {
                continue;
            }
            self.calc_value(s);
            if self.syms[s].flags & F_WRITE == 0 {
                continue;
            }
            self.syms[s].flags &= !F_WRITE;
            if !self.is_changeable(s) {
                continue;
            }
            if self.string_value(s) == self.string_default(s) {
                continue;
            }
            if self.syms[s].is_choice_value() {
                let cs = self.syms[s]
                    .choice
                    .expect("choice values know their choice");
                let ds = self.choice_default(cs);
                if self.syms[cs].flags & F_OPTIONAL == 0
                    && ds == Some(s)
                    && self.syms[s].typ == SymType::Bool
                    && self.syms[s].curr_tri == Tri::Yes
                {
                    continue;
                }
            }
            self.write_symbol(s, &mut out, false);
        }
        out
    }

    /// Convenience: `make olddefconfig` on this tree (read, then write).
    pub fn olddefconfig(&mut self, input: Input<'_>, root: &Path) -> (String, ReadReport) {
        let rep = self.read_config(input, root);
        (self.write_config(), rep)
    }

    /// Convenience: `make savedefconfig` on this tree.
    pub fn savedefconfig(&mut self, input: Input<'_>, root: &Path) -> (String, ReadReport) {
        let rep = self.read_config(input, root);
        (self.write_defconfig(), rep)
    }
}

fn collect_dfs(k: &Kconfig, m: MenuId, out: &mut Vec<MenuId>) {
    for &c in &k.menus[m].children {
        out.push(c);
        collect_dfs(k, c, out);
    }
}

/// Splits like conf's getline: each piece keeps its `\n`.
fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&c| c == b'\n')
}

fn truncate_c(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// `kconfig_print_comment`: every line prefixed with `#`.
fn print_comment(out: &mut String, text: &str) {
    for line in text.split('\n') {
        out.push('#');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// The assignments a `.config` makes, as conf reads them without a tree (last one wins):
/// symbol (without `CONFIG_`) -> value, strings unquoted, `# CONFIG_X is not set` as `n`.
pub fn assignments(config: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in config.split(|&c| c == b'\n') {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some((name, tail)) = rest.split_once(' ') {
                if tail.starts_with("is not set") {
                    out.insert(name.to_string(), "n".to_string());
                }
            }
        } else if let Some(rest) = line.strip_prefix("CONFIG_") {
            if let Some((name, val)) = rest.split_once('=') {
                let v = match val.strip_prefix('"') {
                    Some(q) => unescape(q),
                    None => val.to_string(),
                };
                out.insert(name.to_string(), v);
            }
        }
    }
    out
}

fn unescape(q: &str) -> String {
    let mut out = String::new();
    let mut it = q.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => break,
            '\\' => {
                if let Some(n) = it.next() {
                    out.push(n)
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// One symbol whose value differs between two `.config` files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SymbolChange {
    pub symbol: String,
    /// `None` when the symbol is absent on that side.
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Every symbol whose value differs between `old` and `new`, sorted by name.
pub fn diff(old: &[u8], new: &[u8]) -> Vec<SymbolChange> {
    let (a, b) = (assignments(old), assignments(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| SymbolChange {
            symbol: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect()
}

/// `sym_escape_string_value`: quotes, with `"` and `\` escaped.
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_by_symbol() {
        let old = b"#\n# Header\nCONFIG_PV=y\n# CONFIG_PV32 is not set\nCONFIG_NR_CPUS=256\nCONFIG_GONE=y\n";
        let new = b"CONFIG_PV=y\nCONFIG_PV32=y\nCONFIG_NR_CPUS=512\nCONFIG_NEW=\"x \\\"y\\\"\"\n";
        let s: Vec<String> = diff(old, new)
            .iter()
            .map(|c| format!("{}:{:?}->{:?}", c.symbol, c.old, c.new))
            .collect();
        assert_eq!(
            s,
            [
                "GONE:Some(\"y\")->None",
                "NEW:None->Some(\"x \\\"y\\\"\")",
                "NR_CPUS:Some(\"256\")->Some(\"512\")",
                "PV32:Some(\"n\")->Some(\"y\")",
            ]
        );
    }
}
