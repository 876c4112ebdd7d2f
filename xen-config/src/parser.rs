//! Parses a Kconfig tree into a [`Kconfig`] model, with the grammar of kconfig's parser.y and
//! the dependency propagation of menu.c's `menu_finalize`.
//! Hand-written recursive descent: Kconfig's grammar is small and interleaved with the lexer.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lexer::{FileLexer, Tok};
use crate::model::*;
use crate::preprocess::{Flavor, Preprocessor};
use crate::probe::ShellProbe;

/// Where a tree lives and what it is evaluated with.
pub struct ParseInput<'a> {
    /// Directory `conf` runs in (the Xen `xen/` directory); relative `source`s resolve here.
    pub root: &'a Path,
    /// Top-level Kconfig file, relative to `root` (normally `Kconfig`).
    pub top: &'a str,
    /// Environment variables the tree may read (SRCARCH, CC, srctree, ...).
    pub env: BTreeMap<String, String>,
    /// In-memory files, looked up by name before the disk (fuzzing, tests).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Nesting depth limit for expressions and `source`, so hostile input errors instead of
/// exhausting the stack.
const MAX_DEPTH: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    Menu,
    If,
    Choice,
}

struct Parser<'a, 'p> {
    k: Kconfig,
    pp: Preprocessor<'p>,
    root: &'a Path,
    files: BTreeMap<String, Vec<u8>>,
    srctree: Option<String>,
    stack: Vec<FileLexer>,
    peeked: Option<Tok>,
    prev: u8,
    prev_prev: u8,
    warnings: Vec<String>,
    current_entry: MenuId,
    current_menu: MenuId,
    tok_file: usize,
    tok_line: usize,
    depth: usize,
}

// Token classes for the second-stage lexer state.
const P_EOL: u8 = 0;
const P_HELP: u8 = 1;
const P_WORD: u8 = 2;
const P_OTHER: u8 = 3;

/// Parses the tree. `shell` answers `$(shell,...)`.
pub fn parse(input: ParseInput<'_>, shell: &mut dyn ShellProbe) -> Result<Kconfig> {
    let srctree = input.env.get("srctree").cloned();
    let pp = Preprocessor::new(input.env, shell);
    let mut p = Parser {
        k: Kconfig::empty(),
        pp,
        root: input.root,
        files: input.files,
        srctree,
        stack: Vec::new(),
        peeked: None,
        prev: P_EOL,
        prev_prev: P_EOL,
        warnings: Vec::new(),
        current_entry: ROOT,
        current_menu: ROOT,
        tok_file: 0,
        tok_line: 0,
        depth: 0,
    };
    p.open_file(input.top, None)?;
    p.input()?;
    let mut k = p.k;
    k.env_used = std::mem::take(&mut p.pp.env_used);
    k.messages = std::mem::take(&mut p.pp.messages);
    k.messages.extend(p.warnings);
    if k.menus[ROOT].prompt.is_none() {
        let id = k.props.len();
        k.props.push(Property {
            kind: PropKind::Menu,
            sym: None,
            text: Some("Main menu".into()),
            expr: None,
            range: None,
            visible: None,
            visible_tri: Tri::No,
            host_probe: false,
            menu: ROOT,
            file: 0,
            line: 0,
        });
        k.menus[ROOT].prompt = Some(id);
    }
    finalize(&mut k, ROOT);
    check_recursive_deps(&k)?;
    Ok(k)
}

/// Reads a file of the tree the way `zconf_fopen` does: as given, then under `srctree`.
pub fn resolve(root: &Path, srctree: Option<&str>, name: &str) -> Option<PathBuf> {
    let direct = root.join(name);
    if direct.is_file() {
        return Some(direct);
    }
    if !name.starts_with('/') {
        if let Some(st) = srctree {
            let p = root.join(st).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

impl<'a, 'p> Parser<'a, 'p> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T> {
        Err(Error::Kconfig {
            file: self.k.files.get(self.tok_file).cloned().unwrap_or_default(),
            line: self.tok_line,
            msg: msg.into(),
        })
    }

    fn open_file(&mut self, name: &str, from: Option<(String, usize)>) -> Result<()> {
        if self.stack.iter().any(|l| l.name == name) {
            return self.err(format!("recursive inclusion of \"{name}\""));
        }
        if self.stack.len() >= MAX_DEPTH {
            return self.err("source nesting too deep");
        }
        if let Some(src) = self.files.get(name) {
            let id = self.k.files.len();
            self.k.files.push(name.to_string());
            self.stack
                .push(FileLexer::new(id, name.to_string(), src.clone()));
            return Ok(());
        }
        let Some(path) = resolve(self.root, self.srctree.as_deref(), name) else {
            return match from {
                Some((f, l)) => Err(Error::Kconfig {
                    file: f,
                    line: l,
                    msg: format!(
                        "can't open file \"{name}\" (relative to {})",
                        self.root.display()
                    ),
                }),
                None => Err(Error::Io {
                    path: self.root.join(name),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "can't find file"),
                }),
            };
        };
        let src = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let id = self.k.files.len();
        self.k.files.push(name.to_string());
        self.stack.push(FileLexer::new(id, name.to_string(), src));
        Ok(())
    }

    fn raw_next(&mut self) -> Result<Tok> {
        {
            let Some(lx) = self.stack.last_mut() else {
                return Ok(Tok::Eof);
            };
            self.pp.file = lx.name.clone();
            self.tok_file = lx.file;
            self.tok_line = lx.line;
            let t = lx
                .next(&mut self.pp, &mut self.warnings)
                .map_err(|msg| Error::Kconfig {
                    file: self.k.files[self.tok_file].clone(),
                    line: self.tok_line,
                    msg,
                })?;
            if t == Tok::Eof {
                if self.stack.len() > 1 {
                    self.stack.pop();
                    return Ok(Tok::Eol);
                }
                return Ok(Tok::Eof);
            }
            Ok(t)
        }
    }

    fn next(&mut self) -> Result<Tok> {
        if let Some(t) = self.peeked.take() {
            return Ok(t);
        }
        let t = loop {
            let t = self.raw_next()?;
            if (self.prev == P_EOL || self.prev == P_HELP) && t == Tok::Eol {
                continue;
            }
            break t;
        };
        if self.prev_prev == P_EOL && self.prev == P_WORD && matches!(t, Tok::Op("=" | ":=" | "+="))
        {
            if let Some(lx) = self.stack.last_mut() {
                lx.set_assign_mode();
            }
        }
        self.prev_prev = self.prev;
        self.prev = match t {
            Tok::Eol => P_EOL,
            Tok::Word(_) => P_WORD,
            _ => P_OTHER,
        };
        Ok(t)
    }

    fn peek(&mut self) -> Result<&Tok> {
        if self.peeked.is_none() {
            let t = self.next()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("peeked token was just stored"))
    }

    fn expect_eol(&mut self) -> Result<()> {
        match self.next()? {
            Tok::Eol | Tok::Eof => Ok(()),
            t => self.err(format!(
                "syntax error: unexpected {}, expected end of line",
                describe(&t)
            )),
        }
    }

    fn input(&mut self) -> Result<()> {
        if self.peek()? == &Tok::Kw("mainmenu") {
            self.next()?;
            let text = self.prompt_text()?;
            self.expect_eol()?;
            self.add_prompt(PropKind::Menu, text, None);
        }
        self.stmt_list(Block::Top)?;
        match self.next()? {
            Tok::Eof => Ok(()),
            t => self.err(format!("unexpected {} outside any block", describe(&t))),
        }
    }

    fn stmt_list(&mut self, block: Block) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("menu/if/choice blocks nested too deeply");
        }
        let r = self.stmt_list_inner(block);
        self.depth -= 1;
        r
    }

    fn stmt_list_inner(&mut self, block: Block) -> Result<()> {
        loop {
            let t = self.peek()?.clone();
            match t {
                Tok::Eof => {
                    if block != Block::Top {
                        return self
                            .err("missing end statement for this entry (endmenu/endchoice/endif)");
                    }
                    return Ok(());
                }
                Tok::Kw("endmenu" | "endchoice" | "endif") => return Ok(()),
                Tok::Kw("config" | "menuconfig") => self.config_stmt()?,
                Tok::Kw("choice") if block != Block::Choice => self.choice_stmt()?,
                Tok::Kw("menu") if block != Block::Choice => self.menu_stmt()?,
                Tok::Kw("if") => self.if_stmt()?,
                Tok::Kw("comment") => self.comment_stmt()?,
                Tok::Kw("source") => {
                    self.next()?;
                    let name = self.prompt_text()?;
                    let (f, l) = (self.k.files[self.tok_file].clone(), self.tok_line);
                    self.expect_eol()?;
                    self.open_file(&name, Some((f, l)))?;
                }
                Tok::Word(w) => {
                    self.next()?;
                    let flavor = match self.next()? {
                        Tok::Op("=") => Flavor::Recursive,
                        Tok::Op(":=") => Flavor::Simple,
                        Tok::Op("+=") => Flavor::Append,
                        _ => return self.err(format!("unknown statement \"{w}\"")),
                    };
                    let val = match self.next()? {
                        Tok::AssignVal(v) => {
                            self.expect_eol()?;
                            v
                        }
                        Tok::Eol | Tok::Eof => String::new(),
                        t => return self.err(format!("syntax error near {}", describe(&t))),
                    };
                    let r = self.pp.add_variable(&w, &val, flavor);
                    if let Err(msg) = r {
                        return self.err(msg);
                    }
                }
                Tok::Kw("tristate" | "def_tristate") => {
                    return self
                        .err("tristate is not supported: Xen's Kconfig has no modules (use bool)")
                }
                t => return self.err(format!("invalid statement: unexpected {}", describe(&t))),
            }
        }
    }

    fn end_block(&mut self, expected: &str, block_menu: MenuId) -> Result<()> {
        let t = self.next()?;
        let got = match t {
            Tok::Kw(k @ ("endmenu" | "endchoice" | "endif")) => &k[3..],
            t => return self.err(format!("missing end{expected}, found {}", describe(&t))),
        };
        if got != expected {
            return self.err(format!("unexpected 'end{got}' within {expected} block"));
        }
        if self.k.menus[block_menu].file != self.tok_file {
            return self.err(format!(
                "'end{expected}' in different file than '{expected}' ({})",
                self.k.location(block_menu)
            ));
        }
        self.expect_eol()?;
        self.current_menu = self.k.menus[self.current_menu].parent.unwrap_or(ROOT);
        self.current_entry = block_menu;
        Ok(())
    }

    fn add_entry(&mut self, kind: MenuKind, sym: Option<SymId>) -> MenuId {
        let id = self.k.menus.len();
        self.k.menus.push(Menu {
            kind,
            sym,
            parent: Some(self.current_menu),
            children: Vec::new(),
            prompt: None,
            dep: None,
            visibility: None,
            help: None,
            file: self.tok_file,
            line: self.tok_line,
        });
        self.k.menus[self.current_menu].children.push(id);
        self.current_entry = id;
        if let Some(s) = sym {
            self.k.syms[s].menus.push(id);
        }
        id
    }

    fn add_prop(
        &mut self,
        kind: PropKind,
        text: Option<String>,
        expr: Option<ExprId>,
        cond: Option<ExprId>,
    ) -> PropId {
        let menu = self.current_entry;
        let sym = self.k.menus[menu].sym;
        let id = self.k.props.len();
        self.k.props.push(Property {
            kind,
            sym,
            text,
            expr,
            range: None,
            visible: cond,
            visible_tri: Tri::No,
            host_probe: false,
            menu,
            file: self.tok_file,
            line: self.tok_line,
        });
        if let Some(s) = sym {
            self.k.syms[s].props.push(id);
        }
        id
    }

    fn add_prompt(&mut self, kind: PropKind, text: String, cond: Option<ExprId>) {
        let text = if text.starts_with(|c: char| c.is_ascii_whitespace()) {
            self.warnings.push(format!(
                "{}:{}:warning: leading whitespace ignored",
                self.k.files[self.tok_file], self.tok_line
            ));
            text.trim_start().to_string()
        } else {
            text
        };
        let mut cond = cond;
        if kind == PropKind::Prompt {
            let mut m = self.k.menus[self.current_entry].parent;
            while let Some(mm) = m {
                if let Some(v) = self.k.menus[mm].visibility {
                    cond = self.k.and(cond, Some(v));
                }
                m = self.k.menus[mm].parent;
            }
        }
        let id = self.add_prop(kind, Some(text), None, cond);
        self.k.menus[self.current_entry].prompt = Some(id);
    }

    fn set_type(&mut self, t: SymType) {
        let Some(s) = self.k.menus[self.current_entry].sym else {
            return;
        };
        let sym = &mut self.k.syms[s];
        if sym.typ == SymType::Unknown {
            sym.typ = t;
        } else if sym.typ != t {
            let msg = format!(
                "{}:{}:warning: ignoring type redefinition of '{}' from '{}' to '{}'",
                self.k.files[self.tok_file],
                self.tok_line,
                sym.display_name(),
                sym.typ.name(),
                t.name()
            );
            self.warnings.push(msg);
        }
    }

    fn prompt_text(&mut self) -> Result<String> {
        match self.next()? {
            Tok::Word(w) | Tok::Quote(w) => Ok(w),
            t => self.err(format!(
                "syntax error: expected a prompt string, found {}",
                describe(&t)
            )),
        }
    }

    fn nonconst_symbol(&mut self) -> Result<SymId> {
        match self.next()? {
            Tok::Word(w) => Ok(self.k.lookup(&w, false)),
            t => self.err(format!(
                "syntax error: expected a symbol name, found {}",
                describe(&t)
            )),
        }
    }

    fn symbol(&mut self) -> Result<SymId> {
        match self.next()? {
            Tok::Word(w) => Ok(self.k.lookup(&w, false)),
            Tok::Quote(w) => Ok(self.k.lookup(&w, true)),
            t => self.err(format!(
                "syntax error: expected a symbol, found {}",
                describe(&t)
            )),
        }
    }

    fn if_expr(&mut self) -> Result<Option<ExprId>> {
        if self.peek()? == &Tok::Kw("if") {
            self.next()?;
            return Ok(Some(self.expr()?));
        }
        Ok(None)
    }

    fn expr(&mut self) -> Result<ExprId> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let mut l = self.and_expr()?;
        while self.peek()? == &Tok::Op("||") {
            self.next()?;
            let r = self.and_expr()?;
            l = self.k.new_expr(Expr::Or(l, r));
        }
        self.depth -= 1;
        Ok(l)
    }

    fn and_expr(&mut self) -> Result<ExprId> {
        let mut l = self.unary()?;
        while self.peek()? == &Tok::Op("&&") {
            self.next()?;
            let r = self.unary()?;
            l = self.k.new_expr(Expr::And(l, r));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<ExprId> {
        match self.peek()?.clone() {
            Tok::Op("!") => {
                self.next()?;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return self.err("expression nested too deeply");
                }
                let e = self.unary()?;
                self.depth -= 1;
                Ok(self.k.new_expr(Expr::Not(e)))
            }
            Tok::Op("(") => {
                self.next()?;
                let e = self.expr()?;
                match self.next()? {
                    Tok::Op(")") => Ok(e),
                    t => self.err(format!(
                        "syntax error: expected ')', found {}",
                        describe(&t)
                    )),
                }
            }
            _ => {
                let a = self.symbol()?;
                let op = match self.peek()? {
                    Tok::Op("=") => CmpOp::Eq,
                    Tok::Op("!=") => CmpOp::Ne,
                    Tok::Op("<") => CmpOp::Lt,
                    Tok::Op("<=") => CmpOp::Le,
                    Tok::Op(">") => CmpOp::Gt,
                    Tok::Op(">=") => CmpOp::Ge,
                    _ => return Ok(self.k.new_expr(Expr::Sym(a))),
                };
                self.next()?;
                let b = self.symbol()?;
                Ok(self.k.new_expr(Expr::Cmp(op, a, b)))
            }
        }
    }

    fn depends(&mut self) -> Result<()> {
        self.next()?;
        match self.next()? {
            Tok::Kw("on") => {}
            t => {
                return self.err(format!(
                    "syntax error: expected 'on' after 'depends', found {}",
                    describe(&t)
                ))
            }
        }
        let e = self.expr()?;
        self.expect_eol()?;
        let m = self.current_entry;
        self.k.menus[m].dep = self.k.and(self.k.menus[m].dep, Some(e));
        Ok(())
    }

    fn help(&mut self) -> Result<()> {
        self.next()?;
        self.expect_eol()?;
        let text = match self.stack.last_mut() {
            Some(lx) => lx.help_text(),
            None => String::new(),
        };
        self.prev_prev = self.prev;
        self.prev = P_HELP;
        self.k.menus[self.current_entry].help = Some(text);
        Ok(())
    }

    fn config_stmt(&mut self) -> Result<()> {
        let is_menuconfig = self.next()? == Tok::Kw("menuconfig");
        let s = self.nonconst_symbol()?;
        self.k.syms[s].flags |= F_OPTIONAL;
        self.add_entry(MenuKind::Config, Some(s));
        self.expect_eol()?;
        loop {
            let t = self.peek()?.clone();
            match t {
                Tok::Kw(k @ ("bool" | "int" | "hex" | "string")) => {
                    self.next()?;
                    let typ = match k {
                        "bool" => SymType::Bool,
                        "int" => SymType::Int,
                        "hex" => SymType::Hex,
                        _ => SymType::String,
                    };
                    self.type_with_prompt(typ)?;
                }
                Tok::Kw("tristate" | "def_tristate") => {
                    return self.err(format!(
                    "tristate is not supported (symbol {}): Xen's Kconfig has no modules, use bool",
                    self.k.syms[s].display_name()
                ))
                }
                Tok::Kw("prompt") => {
                    self.next()?;
                    let text = self.prompt_text()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prompt(PropKind::Prompt, text, cond);
                }
                Tok::Kw(k @ ("default" | "def_bool")) => {
                    self.next()?;
                    let probes_before = self.pp.shell_calls;
                    let e = self.expr()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    let id = self.add_prop(PropKind::Default, None, Some(e), cond);
                    self.k.props[id].host_probe = self.pp.shell_calls != probes_before;
                    if k == "def_bool" {
                        self.set_type(SymType::Bool);
                    }
                }
                Tok::Kw(k @ ("select" | "imply")) => {
                    self.next()?;
                    let target = self.nonconst_symbol()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    let e = self.k.new_expr(Expr::Sym(target));
                    let kind = if k == "select" {
                        PropKind::Select
                    } else {
                        PropKind::Imply
                    };
                    self.add_prop(kind, None, Some(e), cond);
                }
                Tok::Kw("range") => {
                    self.next()?;
                    let a = self.symbol()?;
                    let b = self.symbol()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    let id = self.add_prop(PropKind::Range, None, None, cond);
                    self.k.props[id].range = Some((a, b));
                }
                Tok::Kw("option") => {
                    self.next()?;
                    match self.next()? {
                        Tok::Kw("defconfig_list") => {
                            match self.k.defconfig_list {
                                None => self.k.defconfig_list = Some(s),
                                Some(d) if d != s => {
                                    return self.err("trying to redefine defconfig symbol")
                                }
                                _ => {}
                            }
                            self.k.syms[s].flags |= F_NO_WRITE;
                        }
                        Tok::Kw("allnoconfig_y") => {}
                        Tok::Kw("modules") => {
                            return self.err(
                                "option modules is not supported: Xen's Kconfig has no modules",
                            )
                        }
                        t => {
                            return self
                                .err(format!("syntax error: unknown option {}", describe(&t)))
                        }
                    }
                    self.expect_eol()?;
                }
                Tok::Kw("depends") => self.depends()?,
                Tok::Kw("help") => self.help()?,
                _ => break,
            }
        }
        if is_menuconfig {
            let m = self.current_entry;
            match self.k.menus[m].prompt {
                Some(p) => self.k.props[p].kind = PropKind::Menu,
                None => self
                    .warnings
                    .push("warning: menuconfig statement without prompt".into()),
            }
        }
        Ok(())
    }

    fn type_with_prompt(&mut self, typ: SymType) -> Result<()> {
        if matches!(self.peek()?, Tok::Word(_) | Tok::Quote(_)) {
            let text = self.prompt_text()?;
            let cond = self.if_expr()?;
            self.add_prompt(PropKind::Prompt, text, cond);
        }
        self.expect_eol()?;
        self.set_type(typ);
        Ok(())
    }

    fn choice_stmt(&mut self) -> Result<()> {
        self.next()?;
        let name = match self.peek()?.clone() {
            Tok::Word(w) => {
                self.next()?;
                Some(w)
            }
            _ => None,
        };
        self.expect_eol()?;
        let s = self.k.syms.len();
        self.k.syms.push(Symbol {
            name,
            flags: F_CHOICE | F_NO_WRITE,
            ..Default::default()
        });
        let menu = self.add_entry(MenuKind::Choice, Some(s));
        loop {
            let t = self.peek()?.clone();
            match t {
                Tok::Kw("prompt") => {
                    self.next()?;
                    let text = self.prompt_text()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    self.add_prompt(PropKind::Prompt, text, cond);
                }
                Tok::Kw("bool") => {
                    self.next()?;
                    self.type_with_prompt(SymType::Bool)?;
                }
                Tok::Kw("tristate") => {
                    return self
                        .err("tristate choices are not supported: Xen's Kconfig has no modules")
                }
                Tok::Kw("optional") => {
                    self.next()?;
                    self.expect_eol()?;
                    self.k.syms[s].flags |= F_OPTIONAL;
                }
                Tok::Kw("default") => {
                    self.next()?;
                    let d = self.nonconst_symbol()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    let e = self.k.new_expr(Expr::Sym(d));
                    self.add_prop(PropKind::Default, None, Some(e), cond);
                }
                Tok::Kw("depends") => self.depends()?,
                Tok::Kw("help") => self.help()?,
                _ => break,
            }
        }
        self.current_menu = menu;
        self.stmt_list(Block::Choice)?;
        self.end_block("choice", menu)
    }

    fn menu_stmt(&mut self) -> Result<()> {
        self.next()?;
        let text = self.prompt_text()?;
        self.expect_eol()?;
        let menu = self.add_entry(MenuKind::Menu, None);
        self.add_prompt(PropKind::Menu, text, None);
        loop {
            match self.peek()?.clone() {
                Tok::Kw("depends") => self.depends()?,
                Tok::Kw("visible") => {
                    self.next()?;
                    let cond = self.if_expr()?;
                    self.expect_eol()?;
                    let m = self.current_entry;
                    self.k.menus[m].visibility = self.k.and(self.k.menus[m].visibility, cond);
                }
                _ => break,
            }
        }
        self.current_menu = menu;
        self.stmt_list(Block::Menu)?;
        self.end_block("menu", menu)
    }

    fn if_stmt(&mut self) -> Result<()> {
        self.next()?;
        let e = self.expr()?;
        self.expect_eol()?;
        let menu = self.add_entry(MenuKind::If, None);
        self.k.menus[menu].dep = Some(e);
        self.current_menu = menu;
        self.stmt_list(Block::If)?;
        self.end_block("if", menu)
    }

    fn comment_stmt(&mut self) -> Result<()> {
        self.next()?;
        let text = self.prompt_text()?;
        self.expect_eol()?;
        self.add_entry(MenuKind::Comment, None);
        self.add_prompt(PropKind::Comment, text, None);
        while self.peek()? == &Tok::Kw("depends") {
            self.depends()?;
        }
        Ok(())
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Eol => "end of line".into(),
        Tok::Eof => "end of file".into(),
        Tok::Word(w) => format!("'{w}'"),
        Tok::Quote(w) => format!("\"{w}\""),
        Tok::Kw(k) => format!("keyword '{k}'"),
        Tok::Op(o) => format!("'{o}'"),
        Tok::AssignVal(v) => format!("'{v}'"),
    }
}

/// `m` in a dependency means "m && MODULES"; Xen has no MODULES, so it is `n` there.
fn rewrite_m(k: &mut Kconfig, e: Option<ExprId>) -> Option<ExprId> {
    let e = e?;
    Some(match k.exprs[e] {
        Expr::Sym(SYM_M) => {
            let n = k.new_expr(Expr::Sym(SYM_N));
            k.new_expr(Expr::And(e, n))
        }
        Expr::Sym(_) | Expr::Cmp(..) => e,
        Expr::Not(a) => {
            let a2 = rewrite_m(k, Some(a)).unwrap_or(a);
            if a2 == a {
                e
            } else {
                k.new_expr(Expr::Not(a2))
            }
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            let a2 = rewrite_m(k, Some(a)).unwrap_or(a);
            let b2 = rewrite_m(k, Some(b)).unwrap_or(b);
            if a2 == a && b2 == b {
                e
            } else if matches!(k.exprs[e], Expr::And(..)) {
                k.new_expr(Expr::And(a2, b2))
            } else {
                k.new_expr(Expr::Or(a2, b2))
            }
        }
    })
}

/// Propagates dependencies down the menu tree (menu.c `menu_finalize`): every node's
/// dependency includes its parents', every property's condition its node's, selects and
/// implies become reverse dependencies, choices learn their values.
fn finalize(k: &mut Kconfig, parent: MenuId) {
    let children = k.menus[parent].children.clone();
    let psym = k.menus[parent].sym;
    let is_choice = psym.is_some_and(|s| k.syms[s].is_choice());
    if !children.is_empty() {
        if is_choice {
            let s = psym.expect("choice menus have a symbol");
            if k.syms[s].typ == SymType::Unknown {
                if let Some(t) = children
                    .iter()
                    .filter_map(|&c| k.menus[c].sym)
                    .map(|cs| k.syms[cs].typ)
                    .find(|t| *t != SymType::Unknown)
                {
                    k.syms[s].typ = t;
                }
            }
            let t = k.syms[s].typ;
            for &c in &children {
                if let Some(cs) = k.menus[c].sym {
                    if k.syms[cs].typ == SymType::Unknown {
                        k.syms[cs].typ = t;
                    }
                }
            }
        }
        let parentdep = if is_choice {
            Some(k.new_expr(Expr::Sym(psym.expect("choice menus have a symbol"))))
        } else if let Some(p) = k.menus[parent].prompt {
            k.props[p].visible
        } else {
            k.menus[parent].dep
        };
        for &c in &children {
            let own = rewrite_m(k, k.menus[c].dep);
            let base = k.and(parentdep, own);
            k.menus[c].dep = base;
            let props: Vec<PropId> = match k.menus[c].sym {
                Some(s) => k.syms[s].props.clone(),
                None => k.menus[c].prompt.into_iter().collect(),
            };
            for p in props {
                if k.props[p].menu != c {
                    continue;
                }
                let cond = rewrite_m(k, k.props[p].visible);
                let dep = k.and(base, cond);
                k.props[p].visible = dep;
                let kind = k.props[p].kind;
                if matches!(kind, PropKind::Select | PropKind::Imply) {
                    let Some(csym) = k.menus[c].sym else { continue };
                    let Some(Expr::Sym(target)) = k.props[p].expr.map(|e| k.exprs[e]) else {
                        continue;
                    };
                    let me = k.new_expr(Expr::Sym(csym));
                    let term = k.and(Some(me), dep);
                    if kind == PropKind::Select {
                        k.syms[target].rev_dep.expr = k.or(k.syms[target].rev_dep.expr, term);
                    } else {
                        k.syms[target].implied.expr = k.or(k.syms[target].implied.expr, term);
                    }
                }
            }
        }
        for &c in &children {
            finalize(k, c);
        }
    } else if let Some(s) = psym {
        let d = k.menus[parent].dep;
        k.syms[s].dir_dep.expr = k.or(k.syms[s].dir_dep.expr, d);
    }
    if is_choice {
        let s = psym.expect("choice menus have a symbol");
        let mut stack: Vec<MenuId> = children.iter().rev().copied().collect();
        while let Some(c) = stack.pop() {
            if let Some(cs) = k.menus[c].sym {
                if !k.syms[cs].is_choice_value() && !k.syms[cs].is_choice() {
                    k.syms[cs].flags |= F_CHOICEVAL;
                    k.syms[cs].choice = Some(s);
                    k.syms[s].choice_values.push(cs);
                }
            }
            if k.menus[c].kind == MenuKind::If {
                stack.extend(k.menus[c].children.iter().rev().copied());
            }
        }
    }
    if let Some(s) = psym {
        if k.syms[s].flags & F_OPTIONAL == 0 {
            if let Some(p) = k.menus[parent].prompt {
                let v = k.props[p].visible;
                let m = k.new_expr(Expr::Sym(SYM_M));
                let term = k.and(v, Some(m));
                k.syms[s].rev_dep.expr = k.or(k.syms[s].rev_dep.expr, term);
            }
        }
    }
}

fn expr_syms(k: &Kconfig, e: Option<ExprId>, out: &mut Vec<SymId>) {
    let Some(e) = e else { return };
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match k.exprs[e] {
            Expr::Sym(s) => out.push(s),
            Expr::Cmp(_, a, b) => {
                out.push(a);
                out.push(b);
            }
            Expr::Not(a) => todo.push(a),
            Expr::And(a, b) | Expr::Or(a, b) => {
                todo.push(a);
                todo.push(b);
            }
        }
    }
}

/// The node a symbol belongs to in the dependency graph: a choice and its values are one.
fn dep_node(k: &Kconfig, s: SymId) -> SymId {
    if k.syms[s].is_choice_value() {
        k.syms[s].choice.unwrap_or(s)
    } else {
        s
    }
}

/// What `sym_check_sym_deps` follows: dependencies, reverse dependencies, implies, and the
/// conditions and default values of properties.
fn dep_edges(k: &Kconfig, node: SymId) -> Vec<SymId> {
    let mut members = vec![node];
    if k.syms[node].is_choice() {
        members.extend(k.syms[node].choice_values.iter().copied());
    }
    let mut out = Vec::new();
    for &s in &members {
        let sym = &k.syms[s];
        expr_syms(k, sym.dir_dep.expr, &mut out);
        expr_syms(k, sym.rev_dep.expr, &mut out);
        expr_syms(k, sym.implied.expr, &mut out);
        for &p in &sym.props {
            let prop = &k.props[p];
            if matches!(prop.kind, PropKind::Select | PropKind::Imply) {
                continue;
            }
            expr_syms(k, prop.visible, &mut out);
            if prop.kind == PropKind::Default && !sym.is_choice() {
                expr_syms(k, prop.expr, &mut out);
            }
        }
    }
    let mut nodes: Vec<SymId> = out
        .into_iter()
        .filter(|&s| s > SYM_Y && k.syms[s].flags & F_CONST == 0)
        .map(|s| dep_node(k, s))
        // Choice values' prompts depend on their choice: not a cycle. Anything else on itself is.
        .filter(|&s| s != node || !k.syms[node].is_choice())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// conf refuses trees with recursive dependencies (`sym_check_deps`); so do we, naming the
/// symbols of the cycle and where the first is defined.
pub(crate) fn check_recursive_deps(k: &Kconfig) -> Result<()> {
    let n = k.syms.len();
    let mut state = vec![0u8; n];
    for start in SYM_Y + 1..n {
        if state[start] != 0 || dep_node(k, start) != start {
            continue;
        }
        let mut stack: Vec<(SymId, Vec<SymId>, usize)> = vec![(start, dep_edges(k, start), 0)];
        state[start] = 1;
        while let Some(top) = stack.last_mut() {
            if top.2 < top.1.len() {
                let next = top.1[top.2];
                top.2 += 1;
                match state[next] {
                    0 => {
                        state[next] = 1;
                        let edges = dep_edges(k, next);
                        stack.push((next, edges, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(s, _, _)| *s == next).unwrap_or(0);
                        let names: Vec<&str> = stack[from..]
                            .iter()
                            .map(|(s, _, _)| k.syms[*s].display_name())
                            .collect();
                        let (file, line) = match k.syms[next].menus.first() {
                            Some(&m) => (
                                k.files.get(k.menus[m].file).cloned().unwrap_or_default(),
                                k.menus[m].line,
                            ),
                            None => (String::new(), 0),
                        };
                        return Err(Error::Kconfig {
                            file,
                            line,
                            msg: format!(
                                "recursive dependency detected: {} -> {} (conf refuses such trees)",
                                names.join(" -> "),
                                k.syms[next].display_name()
                            ),
                        });
                    }
                    _ => {}
                }
            } else {
                state[top.0] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}
