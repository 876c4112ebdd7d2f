//! The parsed Kconfig model: symbols, properties, expressions and the menu tree, held in
//! arenas and addressed by index so evaluation can update symbols while walking expressions.
use std::collections::HashMap;

pub type SymId = usize;
pub type ExprId = usize;
pub type PropId = usize;
pub type MenuId = usize;

/// Kconfig's three-valued logic; `Mod` only appears transiently (Xen has no modules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Tri {
    #[default]
    No = 0,
    Mod = 1,
    Yes = 2,
}

impl Tri {
    pub fn and(self, o: Tri) -> Tri {
        self.min(o)
    }
    pub fn or(self, o: Tri) -> Tri {
        self.max(o)
    }
    pub fn negate(self) -> Tri {
        match self {
            Tri::No => Tri::Yes,
            Tri::Mod => Tri::Mod,
            Tri::Yes => Tri::No,
        }
    }
}

/// Symbol types Xen uses. `tristate` is refused at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SymType {
    #[default]
    Unknown,
    Bool,
    Int,
    Hex,
    String,
}

impl SymType {
    pub fn name(self) -> &'static str {
        match self {
            SymType::Unknown => "unknown",
            SymType::Bool => "bool",
            SymType::Int => "int",
            SymType::Hex => "hex",
            SymType::String => "string",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
pub enum Expr {
    Sym(SymId),
    Cmp(CmpOp, SymId, SymId),
    Not(ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropKind {
    Prompt,
    /// Prompt of a `menu`, `mainmenu` or `menuconfig`.
    Menu,
    Comment,
    Default,
    Select,
    Imply,
    Range,
}

#[derive(Debug, Clone)]
pub struct Property {
    pub kind: PropKind,
    pub sym: Option<SymId>,
    pub text: Option<String>,
    /// Default value expression, or the target of select/imply (as `Expr::Sym`).
    pub expr: Option<ExprId>,
    pub range: Option<(SymId, SymId)>,
    /// The `if` condition, after finalisation the full visibility condition.
    pub visible: Option<ExprId>,
    pub visible_tri: Tri,
    /// The value came from a `$(shell,...)` probe of the build host.
    pub host_probe: bool,
    pub menu: MenuId,
    pub file: usize,
    pub line: usize,
}

pub const F_CONST: u32 = 0x1;
pub const F_CHOICE: u32 = 0x10;
pub const F_CHOICEVAL: u32 = 0x20;
pub const F_VALID: u32 = 0x80;
pub const F_OPTIONAL: u32 = 0x100;
pub const F_WRITE: u32 = 0x200;
pub const F_WRITTEN: u32 = 0x800;
pub const F_NO_WRITE: u32 = 0x1000;
pub const F_DEF_USER: u32 = 0x10000;

/// A dependency expression with its last computed value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dep {
    pub expr: Option<ExprId>,
    pub tri: Tri,
}

#[derive(Debug, Clone, Default)]
pub struct Symbol {
    pub name: Option<String>,
    pub typ: SymType,
    pub flags: u32,
    pub curr_val: String,
    pub curr_tri: Tri,
    /// For a choice: the selected value.
    pub curr_choice: Option<SymId>,
    pub user_val: Option<String>,
    pub user_tri: Tri,
    pub user_choice: Option<SymId>,
    pub visible: Tri,
    pub dir_dep: Dep,
    pub rev_dep: Dep,
    pub implied: Dep,
    pub props: Vec<PropId>,
    /// For a choice: its values in order. For a choice value: its choice.
    pub choice_values: Vec<SymId>,
    pub choice: Option<SymId>,
    /// Menu nodes that define this symbol (one per `config` block).
    pub menus: Vec<MenuId>,
}

impl Symbol {
    pub fn is_choice(&self) -> bool {
        self.flags & F_CHOICE != 0
    }
    pub fn is_choice_value(&self) -> bool {
        self.flags & F_CHOICEVAL != 0
    }
    pub fn has_value(&self) -> bool {
        self.flags & F_DEF_USER != 0
    }
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("<choice>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    Root,
    Config,
    Choice,
    Menu,
    Comment,
    If,
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub kind: MenuKind,
    pub sym: Option<SymId>,
    pub parent: Option<MenuId>,
    pub children: Vec<MenuId>,
    pub prompt: Option<PropId>,
    pub dep: Option<ExprId>,
    pub visibility: Option<ExprId>,
    pub help: Option<String>,
    pub file: usize,
    pub line: usize,
}

/// A whole parsed tree.
#[derive(Debug, Clone)]
pub struct Kconfig {
    pub syms: Vec<Symbol>,
    pub props: Vec<Property>,
    pub exprs: Vec<Expr>,
    pub menus: Vec<Menu>,
    pub files: Vec<String>,
    pub by_name: HashMap<String, SymId>,
    pub consts: HashMap<String, SymId>,
    pub defconfig_list: Option<SymId>,
    pub env_used: std::collections::BTreeMap<String, String>,
    pub messages: Vec<String>,
    /// conf's "configuration changed" counter, which decides whether writing recomputes.
    pub(crate) changed: bool,
}

pub const SYM_N: SymId = 0;
pub const SYM_M: SymId = 1;
pub const SYM_Y: SymId = 2;
pub const ROOT: MenuId = 0;

impl Kconfig {
    pub(crate) fn empty() -> Self {
        let mut k = Kconfig {
            syms: Vec::new(),
            props: Vec::new(),
            exprs: Vec::new(),
            menus: Vec::new(),
            files: Vec::new(),
            by_name: HashMap::new(),
            consts: HashMap::new(),
            defconfig_list: None,
            env_used: Default::default(),
            messages: Vec::new(),
            changed: true,
        };
        for (name, tri) in [("n", Tri::No), ("m", Tri::Mod), ("y", Tri::Yes)] {
            k.syms.push(Symbol {
                name: Some(name.into()),
                flags: F_CONST | F_VALID,
                curr_val: name.into(),
                curr_tri: tri,
                ..Default::default()
            });
        }
        k.menus.push(Menu {
            kind: MenuKind::Root,
            sym: None,
            parent: None,
            children: Vec::new(),
            prompt: None,
            dep: None,
            visibility: None,
            help: None,
            file: 0,
            line: 0,
        });
        k
    }

    /// The symbol a name refers to, as `sym_lookup` does (`y`/`m`/`n` are the constants).
    pub(crate) fn lookup(&mut self, name: &str, constant: bool) -> SymId {
        match name {
            "n" => return SYM_N,
            "m" => return SYM_M,
            "y" => return SYM_Y,
            _ => {}
        }
        let table = if constant {
            &self.consts
        } else {
            &self.by_name
        };
        if let Some(&id) = table.get(name) {
            return id;
        }
        let id = self.syms.len();
        self.syms.push(Symbol {
            name: Some(name.to_string()),
            flags: if constant { F_CONST } else { 0 },
            ..Default::default()
        });
        if constant {
            self.consts.insert(name.to_string(), id);
        } else {
            self.by_name.insert(name.to_string(), id);
        }
        id
    }

    /// A named, non-constant symbol (what `.config` lines refer to).
    pub fn find(&self, name: &str) -> Option<SymId> {
        match name {
            "n" => Some(SYM_N),
            "m" => Some(SYM_M),
            "y" => Some(SYM_Y),
            _ => self.by_name.get(name).copied(),
        }
    }

    pub(crate) fn new_expr(&mut self, e: Expr) -> ExprId {
        self.exprs.push(e);
        self.exprs.len() - 1
    }

    pub(crate) fn and(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(self.new_expr(Expr::And(a, b))),
        }
    }

    pub(crate) fn or(&mut self, a: Option<ExprId>, b: Option<ExprId>) -> Option<ExprId> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(self.new_expr(Expr::Or(a, b))),
        }
    }

    /// The rendered form of an expression, Kconfig syntax.
    pub fn expr_to_string(&self, e: ExprId) -> String {
        let name = |s: SymId| {
            let sym = &self.syms[s];
            let n = sym.display_name();
            if sym.flags & F_CONST != 0 && s > SYM_Y {
                format!("\"{n}\"")
            } else {
                n.to_string()
            }
        };
        match self.exprs[e] {
            Expr::Sym(s) => name(s),
            Expr::Cmp(op, a, b) => {
                let o = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                format!("{}{o}{}", name(a), name(b))
            }
            Expr::Not(x) => format!("!{}", self.paren(x)),
            Expr::And(a, b) => format!("{} && {}", self.paren(a), self.paren(b)),
            Expr::Or(a, b) => format!("{} || {}", self.expr_to_string(a), self.expr_to_string(b)),
        }
    }

    fn paren(&self, e: ExprId) -> String {
        match self.exprs[e] {
            Expr::Or(..) => format!("({})", self.expr_to_string(e)),
            _ => self.expr_to_string(e),
        }
    }

    /// `file:line` of a menu node.
    pub fn location(&self, m: MenuId) -> String {
        let menu = &self.menus[m];
        format!(
            "{}:{}",
            self.files.get(menu.file).map(String::as_str).unwrap_or("?"),
            menu.line
        )
    }

    /// Whether a property's value came from probing the build host.
    pub fn prop_host_dependent(&self, p: PropId) -> bool {
        self.props[p].host_probe
    }

    /// Prompt text of a menu node.
    pub fn menu_prompt(&self, m: MenuId) -> Option<&str> {
        self.menus[m]
            .prompt
            .and_then(|p| self.props[p].text.as_deref())
    }
}
