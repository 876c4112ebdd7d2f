//! Symbol value calculation with the rules of kconfig's symbol.c: visibility from prompts,
//! user values only when visible, defaults, selects and implies, choices, ranges.
//! Values are memoised per symbol (the VALID flag) exactly as `conf` does, because conf's
//! output depends on when a value is (re)computed.
use crate::cnum::{c_strtoll, c_strtoull};
use crate::model::*;

impl Kconfig {
    /// `expr_calc_value`.
    pub fn calc_expr(&mut self, e: Option<ExprId>) -> Tri {
        let Some(e) = e else { return Tri::Yes };
        match self.exprs[e] {
            Expr::Sym(s) => {
                self.calc_value(s);
                self.syms[s].curr_tri
            }
            Expr::And(a, b) => {
                let x = self.calc_expr(Some(a));
                let y = self.calc_expr(Some(b));
                x.and(y)
            }
            Expr::Or(a, b) => {
                let x = self.calc_expr(Some(a));
                let y = self.calc_expr(Some(b));
                x.or(y)
            }
            Expr::Not(a) => self.calc_expr(Some(a)).negate(),
            Expr::Cmp(op, a, b) => {
                self.calc_value(a);
                self.calc_value(b);
                let s1 = self.string_value(a);
                let s2 = self.string_value(b);
                let (t1, t2) = (self.syms[a].typ, self.syms[b].typ);
                let mut res = None;
                if t1 != SymType::String || t2 != SymType::String {
                    let k1 = parse_kind(&s1, t1);
                    let k2 = parse_kind(&s2, t2);
                    if let (Some(k1), Some(k2)) = (k1, k2) {
                        res = Some(match (k1, k2) {
                            (Num::U(x), Num::U(y)) => x.cmp(&y),
                            (Num::U(x), Num::S(y)) => x.cmp(&(y as u64)),
                            (Num::S(x), Num::U(y)) => (x as u64).cmp(&y),
                            (Num::S(x), Num::S(y)) => x.cmp(&y),
                        });
                    }
                }
                let res = res.unwrap_or_else(|| s1.as_bytes().cmp(s2.as_bytes()));
                use std::cmp::Ordering::*;
                let ok = match op {
                    CmpOp::Eq => res == Equal,
                    CmpOp::Ne => res != Equal,
                    CmpOp::Lt => res == Less,
                    CmpOp::Le => res != Greater,
                    CmpOp::Gt => res == Greater,
                    CmpOp::Ge => res != Less,
                };
                if ok {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
        }
    }

    /// `sym_get_string_value`.
    pub fn string_value(&self, s: SymId) -> String {
        let sym = &self.syms[s];
        match sym.typ {
            SymType::Bool => match sym.curr_tri {
                Tri::Yes => "y".into(),
                // Without modules, `m` reads as `n`.
                _ => "n".into(),
            },
            _ => sym.curr_val.clone(),
        }
    }

    fn default_prop(&mut self, s: SymId) -> Option<PropId> {
        let props = self.syms[s].props.clone();
        for p in props {
            if self.props[p].kind != PropKind::Default {
                continue;
            }
            let v = self.calc_expr(self.props[p].visible);
            self.props[p].visible_tri = v;
            if v != Tri::No {
                return Some(p);
            }
        }
        None
    }

    pub(crate) fn range_prop(&mut self, s: SymId) -> Option<(SymId, SymId)> {
        let props = self.syms[s].props.clone();
        for p in props {
            if self.props[p].kind != PropKind::Range {
                continue;
            }
            let v = self.calc_expr(self.props[p].visible);
            self.props[p].visible_tri = v;
            if v != Tri::No {
                return self.props[p].range;
            }
        }
        None
    }

    fn range_val(&mut self, s: SymId, base: u32) -> i64 {
        self.calc_value(s);
        let base = match self.syms[s].typ {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => base,
        };
        c_strtoll(&self.syms[s].curr_val, base).0
    }

    fn validate_range(&mut self, s: SymId) {
        let base = match self.syms[s].typ {
            SymType::Int => 10,
            SymType::Hex => 16,
            _ => return,
        };
        let Some((lo, hi)) = self.range_prop(s) else {
            return;
        };
        let val = c_strtoll(&self.syms[s].curr_val, base).0;
        let mut bound = self.range_val(lo, base);
        if val >= bound {
            bound = self.range_val(hi, base);
            if val <= bound {
                return;
            }
        }
        self.syms[s].curr_val = if self.syms[s].typ == SymType::Int {
            bound.to_string()
        } else {
            format!("0x{:x}", bound as u64)
        };
    }

    /// `sym_calc_visibility`.
    pub(crate) fn calc_visibility(&mut self, s: SymId) {
        let mut tri = Tri::No;
        let props = self.syms[s].props.clone();
        for p in props {
            if self.props[p].text.is_none() {
                continue;
            }
            let v = self.calc_expr(self.props[p].visible);
            self.props[p].visible_tri = v;
            tri = tri.or(v);
        }
        if tri == Tri::Mod {
            tri = Tri::Yes;
        }
        self.syms[s].visible = tri;
        if self.syms[s].is_choice_value() {
            return;
        }
        let bool_like = |t: Tri| if t == Tri::Mod { Tri::Yes } else { t };
        let is_bool = self.syms[s].typ == SymType::Bool;
        let fold = |t: Tri| if is_bool { bool_like(t) } else { t };
        let d = match self.syms[s].dir_dep.expr {
            Some(e) => self.calc_expr(Some(e)),
            None => Tri::Yes,
        };
        self.syms[s].dir_dep.tri = fold(d);
        let r = match self.syms[s].rev_dep.expr {
            Some(e) => self.calc_expr(Some(e)),
            None => Tri::No,
        };
        self.syms[s].rev_dep.tri = fold(r);
        let i = match self.syms[s].implied.expr {
            Some(e) if self.syms[s].dir_dep.tri != Tri::No => self.calc_expr(Some(e)),
            _ => Tri::No,
        };
        self.syms[s].implied.tri = fold(i);
    }

    /// `sym_choice_default`: the first visible default, else the first visible value.
    pub fn choice_default(&mut self, c: SymId) -> Option<SymId> {
        let props = self.syms[c].props.clone();
        for p in props {
            if self.props[p].kind != PropKind::Default {
                continue;
            }
            let v = self.calc_expr(self.props[p].visible);
            self.props[p].visible_tri = v;
            if v == Tri::No {
                continue;
            }
            if let Some(Expr::Sym(d)) = self.props[p].expr.map(|e| self.exprs[e]) {
                if self.syms[d].visible != Tri::No {
                    return Some(d);
                }
            }
        }
        let values = self.syms[c].choice_values.clone();
        values
            .into_iter()
            .find(|&v| self.syms[v].visible != Tri::No)
    }

    fn calc_choice(&mut self, c: SymId) -> Option<SymId> {
        let mut flags = self.syms[c].flags;
        let values = self.syms[c].choice_values.clone();
        for v in values {
            self.calc_visibility(v);
            if self.syms[v].visible != Tri::No {
                flags &= self.syms[v].flags;
            }
        }
        self.syms[c].flags &= flags | !F_DEF_USER;
        if let Some(u) = self.syms[c].user_choice {
            if self.syms[u].visible != Tri::No {
                return Some(u);
            }
        }
        let d = self.choice_default(c);
        if d.is_none() {
            self.syms[c].curr_tri = Tri::No;
        }
        d
    }

    /// `sym_calc_value`: computes a symbol's value once until invalidated.
    pub fn calc_value(&mut self, s: SymId) {
        if self.syms[s].flags & F_VALID != 0 {
            return;
        }
        self.syms[s].flags |= F_VALID;
        let typ = self.syms[s].typ;
        if typ == SymType::Unknown {
            let sym = &mut self.syms[s];
            sym.curr_val = sym.name.clone().unwrap_or_default();
            sym.curr_tri = Tri::No;
            return;
        }
        self.syms[s].flags &= !F_WRITE;
        self.calc_visibility(s);
        if self.syms[s].visible != Tri::No {
            self.syms[s].flags |= F_WRITE;
        }
        // Recursive references see the empty value.
        self.syms[s].curr_val = String::new();
        self.syms[s].curr_tri = Tri::No;
        let mut new_tri = Tri::No;
        let mut new_val = String::new();
        match typ {
            SymType::Bool => {
                let sym = &self.syms[s];
                if sym.is_choice_value() && sym.visible == Tri::Yes {
                    let c = sym.choice.expect("choice values know their choice");
                    new_tri = if self.syms[c].curr_choice == Some(s) {
                        Tri::Yes
                    } else {
                        Tri::No
                    };
                } else {
                    let mut from_user = false;
                    if sym.visible != Tri::No && sym.has_value() {
                        new_tri = sym.user_tri.and(sym.visible);
                        from_user = true;
                    }
                    if !from_user {
                        if self.syms[s].rev_dep.tri != Tri::No {
                            self.syms[s].flags |= F_WRITE;
                        }
                        if !self.syms[s].is_choice() {
                            if let Some(p) = self.default_prop(s) {
                                let v = self.calc_expr(self.props[p].expr);
                                new_tri = v.and(self.props[p].visible_tri);
                                if new_tri != Tri::No {
                                    self.syms[s].flags |= F_WRITE;
                                }
                            }
                            if self.syms[s].implied.tri != Tri::No {
                                self.syms[s].flags |= F_WRITE;
                                new_tri = new_tri.or(self.syms[s].implied.tri);
                            }
                        }
                    }
                    let sym = &self.syms[s];
                    if sym.dir_dep.tri < sym.rev_dep.tri && !sym.is_choice_value() {
                        let msg = format!(
                            "WARNING: unmet direct dependencies detected for {}",
                            sym.display_name()
                        );
                        self.messages.push(msg);
                    }
                    new_tri = new_tri.or(self.syms[s].rev_dep.tri);
                }
                if new_tri == Tri::Mod {
                    new_tri = Tri::Yes;
                }
            }
            SymType::Int | SymType::Hex | SymType::String => {
                let sym = &self.syms[s];
                if sym.visible != Tri::No && sym.has_value() {
                    new_val = sym.user_val.clone().unwrap_or_default();
                } else if let Some(p) = self.default_prop(s) {
                    if let Some(Expr::Sym(ds)) = self.props[p].expr.map(|e| self.exprs[e]) {
                        self.syms[s].flags |= F_WRITE;
                        self.calc_value(ds);
                        new_val = self.syms[ds].curr_val.clone();
                    }
                }
            }
            SymType::Unknown => {}
        }
        self.syms[s].curr_tri = new_tri;
        self.syms[s].curr_val = new_val;
        if self.syms[s].is_choice() && new_tri == Tri::Yes {
            let ch = self.calc_choice(s);
            self.syms[s].curr_choice = ch;
        }
        self.validate_range(s);
        if self.syms[s].is_choice() {
            let write = self.syms[s].flags & F_WRITE != 0;
            for v in self.syms[s].choice_values.clone() {
                if write && self.syms[v].visible != Tri::No {
                    self.syms[v].flags |= F_WRITE;
                }
            }
        }
        if self.syms[s].flags & F_NO_WRITE != 0 {
            self.syms[s].flags &= !F_WRITE;
        }
    }

    /// `sym_clear_all_valid`: forget every computed value.
    pub(crate) fn clear_all_valid(&mut self) {
        for sym in self.syms.iter_mut().skip(SYM_Y + 1) {
            sym.flags &= !F_VALID;
        }
        self.changed = true;
    }

    /// `sym_is_changeable`.
    pub fn is_changeable(&self, s: SymId) -> bool {
        self.syms[s].visible > self.syms[s].rev_dep.tri
    }

    /// `sym_get_string_default`: what the symbol would be without a user value.
    pub fn string_default(&mut self, s: SymId) -> String {
        self.calc_visibility(s);
        let mut val = Tri::No;
        let mut str_val = String::new();
        let typ = self.syms[s].typ;
        if let Some(p) = self.default_prop(s) {
            match typ {
                SymType::Bool => {
                    let v = self.calc_expr(self.props[p].expr);
                    val = v.and(self.props[p].visible_tri);
                }
                _ => {
                    if let Some(Expr::Sym(ds)) = self.props[p].expr.map(|e| self.exprs[e]) {
                        self.calc_value(ds);
                        str_val = self.syms[ds].curr_val.clone();
                    }
                }
            }
        }
        val = val.or(self.syms[s].rev_dep.tri);
        if val == Tri::Mod {
            val = Tri::Yes;
        }
        if val < self.syms[s].implied.tri {
            val = self.syms[s].implied.tri;
        }
        match typ {
            SymType::Bool => match val {
                Tri::No => "n".into(),
                Tri::Mod => "m".into(),
                Tri::Yes => "y".into(),
            },
            SymType::Int | SymType::Hex | SymType::String => str_val,
            SymType::Unknown => String::new(),
        }
    }

    /// `sym_string_valid`.
    pub fn string_valid(typ: SymType, s: &str) -> bool {
        let b = s.as_bytes();
        match typ {
            SymType::String => true,
            SymType::Int => {
                let mut i = 0;
                if b.first() == Some(&b'-') {
                    i = 1;
                }
                match b.get(i) {
                    Some(c) if c.is_ascii_digit() => {}
                    _ => return false,
                }
                if b[i] == b'0' && b.len() > i + 1 {
                    return false;
                }
                b[i..].iter().all(u8::is_ascii_digit)
            }
            SymType::Hex => {
                let mut i = 0;
                if b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
                    i = 2;
                }
                // conf checks at least one character, even the terminating NUL (which fails).
                b.len() > i && b[i..].iter().all(u8::is_ascii_hexdigit)
            }
            SymType::Bool => matches!(b.first(), Some(b'y' | b'Y' | b'm' | b'M' | b'n' | b'N')),
            SymType::Unknown => false,
        }
    }

    /// `sym_string_within_range` for int/hex/string symbols.
    pub(crate) fn string_within_range(&mut self, s: SymId, v: &str) -> bool {
        let typ = self.syms[s].typ;
        match typ {
            SymType::String => true,
            SymType::Int | SymType::Hex => {
                if !Self::string_valid(typ, v) {
                    return false;
                }
                let base = if typ == SymType::Int { 10 } else { 16 };
                let Some((lo, hi)) = self.range_prop(s) else {
                    return true;
                };
                let val = c_strtoll(v, base).0;
                val >= self.range_val(lo, base) && val <= self.range_val(hi, base)
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy)]
enum Num {
    S(i64),
    U(u64),
}

/// `expr_parse_string`: how a comparison operand reads as a number, if it does.
fn parse_kind(s: &str, t: SymType) -> Option<Num> {
    match t {
        SymType::Bool => Some(Num::S(match s {
            "n" => 0,
            "m" => 1,
            "y" => 2,
            _ => -1,
        })),
        SymType::Int | SymType::String | SymType::Unknown => {
            let base = if t == SymType::Int { 10 } else { 0 };
            let (v, used, overflow) = c_strtoll(s, base);
            ok_tail(s, used, overflow).then_some(Num::S(v))
        }
        SymType::Hex => {
            let (v, used, overflow) = c_strtoull(s, 16);
            ok_tail(s, used, overflow).then_some(Num::U(v))
        }
    }
}

fn ok_tail(s: &str, used: usize, overflow: bool) -> bool {
    !overflow && used == s.len() && used > 0 && s.as_bytes()[used - 1].is_ascii_hexdigit()
}
