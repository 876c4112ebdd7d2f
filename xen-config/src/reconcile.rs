//! Reconciles a pinned config (Qubes') with a Kconfig tree: for every symbol, what upstream
//! would choose, what Qubes pins, what takes effect, and why they differ.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::dotconfig::Input;
use crate::model::*;

/// Why a symbol has the value it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Qubes chose a value different from upstream's default.
    Deliberate,
    /// Qubes' value was the default of the tree it was generated for, and is not any more.
    StalePin,
    /// The value is computed from other symbols (no prompt, select, choice); pinning it does nothing.
    Derived,
    /// A symbol Qubes' config does not mention: it takes upstream's default.
    NewUpstreamDefault,
    /// Qubes' config sets a symbol this tree does not define: conf drops it silently.
    RemovedUpstream,
    /// The value comes from probing the build host (`$(shell,...)`): compiler, assembler.
    HostDependent,
    /// Qubes pins exactly upstream's default: harmless, absent from the minimal config.
    Default,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Deliberate => "deliberate",
            Class::StalePin => "stale pin",
            Class::Derived => "derived",
            Class::NewUpstreamDefault => "new upstream default",
            Class::RemovedUpstream => "removed upstream",
            Class::HostDependent => "host-dependent",
            Class::Default => "default",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SymbolReport {
    pub name: String,
    #[serde(rename = "type")]
    pub typ: SymType,
    /// `file:line` of each definition in the target tree.
    pub defined_at: Vec<String>,
    /// Value with an empty config in the target tree (None: not written there).
    pub upstream_default: Option<String>,
    /// Value with an empty config in the base tree, when one is given.
    pub base_default: Option<String>,
    /// Value in Qubes' config (last assignment wins).
    pub qubes: Option<String>,
    /// Value conf computes from Qubes' config on the target tree.
    pub effective: Option<String>,
    pub class: Class,
    pub reason: String,
    /// Accepted with `--accept`: does not fail the run.
    pub accepted: bool,
}

/// Everything outside Kconfig: C defaults, configure flags, guest libraries.
#[derive(Debug, Clone, Serialize)]
pub struct ToolsReport {
    pub c_defaults: &'static [crate::c_defaults::CDefault],
    pub flag_sets: &'static [crate::tools_flags::FlagSet],
    /// The package definition's own flags, when reconciling a definition.
    pub package_flags: Option<crate::tools_flags::OwnedFlagSet>,
    pub flag_warnings: Vec<crate::tools_flags::FlagWarning>,
    pub guest_roots: &'static [&'static str],
    pub guest_closure: Vec<String>,
    pub flags_affecting_guest_libs: &'static [(&'static str, &'static str)],
}

/// Builds the tools part from a Xen source root (and an older one for default changes),
/// checking the built-in flag tables and a package definition's flags when given.
/// Unknown flags that are not accepted become problems: the definition's when one is given,
/// else the tables'.
pub fn tools_report(
    source_root: &Path,
    previous_root: Option<&Path>,
    package_flags: Option<crate::tools_flags::OwnedFlagSet>,
    accept: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> crate::Result<ToolsReport> {
    use crate::{guest_libs, tools_flags};
    let known = tools_flags::scan_configure(source_root)?;
    let prev = previous_root.map(tools_flags::scan_configure).transpose()?;
    let mut flag_warnings = tools_flags::check_flags(tools_flags::FLAG_SETS, &known, prev.as_ref());
    if let Some(p) = &package_flags {
        tools_flags::check_flag_list(&p.who, &p.flags, &known, prev.as_ref(), &mut flag_warnings);
    }
    // Reconciling a definition, its own flags are on trial; the other tables are context.
    let on_trial = |who: &str| match &package_flags {
        Some(p) => p.who == who,
        None => true,
    };
    for w in &flag_warnings {
        if w.kind == "unknown" && on_trial(&w.who) && !accept.contains(&w.flag) {
            problems.push(format!(
                "{} passes {}: {} (accept with --accept={})",
                w.who, w.flag, w.message, w.flag
            ));
        }
    }
    let deps = guest_libs::read_uselibs(source_root)?;
    let closure = guest_libs::closure(&deps, guest_libs::GUEST_ROOTS).map_err(|msg| {
        crate::Error::Kconfig {
            file: source_root
                .join("tools/libs/uselibs.mk")
                .display()
                .to_string(),
            line: 0,
            msg,
        }
    })?;
    Ok(ToolsReport {
        c_defaults: crate::c_defaults::C_DEFAULTS,
        flag_sets: tools_flags::FLAG_SETS,
        package_flags,
        flag_warnings,
        guest_roots: guest_libs::GUEST_ROOTS,
        guest_closure: closure.into_iter().collect(),
        flags_affecting_guest_libs: guest_libs::FLAGS_AFFECTING_GUEST_LIBS,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub symbols: Vec<SymbolReport>,
    /// C defaults, configure flags and guest libraries, when the full source tree is known.
    pub tools: Option<ToolsReport>,
    /// Qubes' config in savedefconfig form for the target tree.
    pub minimal_config: String,
    /// Stale pins and removed symbols that were not accepted.
    pub problems: Vec<String>,
}

/// Per symbol name: (value, default) under a config; `None` when conf would not write it.
/// The default is `sym_get_string_default` with the config's other choices in place, the
/// same comparison savedefconfig makes.
type Values = BTreeMap<String, (Option<String>, Option<String>)>;

fn values(k: &Kconfig, input: Input<'_>, root: &Path) -> (Kconfig, Values) {
    let mut k = k.clone();
    k.read_config(input, root);
    let mut out = BTreeMap::new();
    for s in SYM_Y + 1..k.syms.len() {
        let sym = &k.syms[s];
        if sym.flags & F_CONST != 0
            || sym.is_choice()
            || sym.menus.is_empty()
            || sym.typ == SymType::Unknown
        {
            continue;
        }
        let Some(name) = sym.name.clone() else {
            continue;
        };
        k.calc_value(s);
        if k.syms[s].flags & F_WRITE == 0 {
            out.insert(name, (None, None));
            continue;
        }
        let v = k.string_value(s);
        let d = match k.syms[s].choice {
            // A choice value's default is whether its choice picks it by default.
            Some(c) if k.syms[s].is_choice_value() => {
                if k.choice_default(c) == Some(s) {
                    "y".to_string()
                } else {
                    "n".to_string()
                }
            }
            _ => k.string_default(s),
        };
        out.insert(name, (Some(v), Some(d)));
    }
    (k, out)
}

fn show(v: &Option<String>) -> String {
    match v {
        Some(v) => v.clone(),
        None => "(not set)".into(),
    }
}

/// Reconciles `config` against `target`; `base` is the tree the config was generated for.
pub fn reconcile(
    target: &Kconfig,
    target_root: &Path,
    base: Option<(&Kconfig, &Path)>,
    config: &[u8],
    accept: &BTreeSet<String>,
) -> Reconciliation {
    let pins = crate::dotconfig::assignments(config);
    let base_values = base.map(|(k, root)| values(k, Input::Config(config), root).1);
    let (mut eff_k, effective) = values(target, Input::Config(config), target_root);
    let mut names: BTreeSet<String> = effective
        .iter()
        .filter(|(_, (v, _))| v.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    names.extend(pins.keys().cloned());
    let mut symbols = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        let sid = target.find(&name).filter(|&s| {
            !target.syms[s].menus.is_empty() && target.syms[s].typ != SymType::Unknown
        });
        let qubes = pins.get(&name).cloned();
        let (eff, upstream_default) = effective.get(&name).cloned().unwrap_or((None, None));
        let base_default = base_values
            .as_ref()
            .and_then(|b| b.get(&name).and_then(|(_, d)| d.clone()));
        let (class, reason) = match sid {
            None => (
                Class::RemovedUpstream,
                "not defined by this tree: conf drops the line silently".to_string(),
            ),
            Some(s) => {
                let sym = &target.syms[s];
                let host = sym.props.iter().any(|&p| {
                    target.props[p].kind == PropKind::Default && target.prop_host_dependent(p)
                });
                let changeable = {
                    eff_k.calc_value(s);
                    eff_k.is_changeable(s)
                };
                if host {
                    (
                        Class::HostDependent,
                        format!("computed by probing the build host; here {}", show(&eff)),
                    )
                } else if qubes.is_none() {
                    if changeable {
                        (
                            Class::NewUpstreamDefault,
                            format!(
                                "not in Qubes' config (new or newly visible): takes upstream's default {}",
                                show(&upstream_default)
                            ),
                        )
                    } else {
                        (
                            Class::Derived,
                            "not in Qubes' config; computed from other symbols".into(),
                        )
                    }
                } else if !changeable {
                    let why = if sym.is_choice_value() {
                        "a choice value fixed by its choice".to_string()
                    } else if eff_k.syms[s].rev_dep.tri != Tri::No {
                        "selected by another symbol".to_string()
                    } else if eff_k.syms[s].visible == Tri::No
                        && sym.props.iter().any(|&p| target.props[p].text.is_some())
                    {
                        "its prompt is hidden (dependencies unmet)".to_string()
                    } else {
                        "no prompt: computed from its defaults".to_string()
                    };
                    (
                        Class::Derived,
                        format!("{why}; Qubes' pin {} has no effect", show(&qubes)),
                    )
                } else if qubes == upstream_default {
                    (Class::Default, "Qubes pins upstream's default".into())
                } else if base_default.is_some() && qubes == base_default {
                    (
                        Class::StalePin,
                        format!(
                            "matched the old default {} and upstream now defaults to {}",
                            show(&base_default),
                            show(&upstream_default)
                        ),
                    )
                } else if qubes != eff {
                    (
                        Class::Deliberate,
                        format!(
                            "Qubes sets {} but conf makes it {} (value out of range or invalid)",
                            show(&qubes),
                            show(&eff)
                        ),
                    )
                } else {
                    (
                        Class::Deliberate,
                        format!(
                            "Qubes sets {} where upstream defaults to {}",
                            show(&qubes),
                            show(&upstream_default)
                        ),
                    )
                }
            }
        };
        let accepted = accept.contains(&name);
        if matches!(class, Class::StalePin | Class::RemovedUpstream) && !accepted {
            problems.push(format!(
                "CONFIG_{name}: {}: {reason} (accept with --accept {name})",
                class.name()
            ));
        }
        let (typ, defined_at) = match sid {
            Some(s) => (
                target.syms[s].typ,
                target.syms[s]
                    .menus
                    .iter()
                    .map(|&m| target.location(m))
                    .collect(),
            ),
            None => (SymType::Unknown, vec![]),
        };
        symbols.push(SymbolReport {
            name,
            typ,
            defined_at,
            upstream_default,
            base_default,
            qubes,
            effective: eff,
            class,
            reason,
            accepted,
        });
    }
    let minimal_config = target
        .clone()
        .savedefconfig(Input::Config(config), target_root)
        .0;
    Reconciliation {
        symbols,
        tools: None,
        minimal_config,
        problems,
    }
}

impl Reconciliation {
    /// Human-readable table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<36} {:<7} {:<22} {:<14} {:<14} {:<14} REASON\n",
            "SYMBOL", "TYPE", "CLASS", "UPSTREAM", "QUBES", "EFFECTIVE"
        ));
        for s in &self.symbols {
            out.push_str(&format!(
                "{:<36} {:<7} {:<22} {:<14} {:<14} {:<14} {}{}\n",
                s.name,
                s.typ.name(),
                s.class.name(),
                short(&s.upstream_default),
                short(&s.qubes),
                short(&s.effective),
                s.reason,
                if s.accepted { " [accepted]" } else { "" }
            ));
        }
        out.push_str("\nMinimal Qubes config (savedefconfig form):\n");
        out.push_str(&self.minimal_config);
        if let Some(t) = &self.tools {
            out.push_str("\nC-level defaults Qubes patches change (Kconfig cannot see them):\n");
            for c in t.c_defaults {
                let patches: Vec<String> =
                    c.patches.iter().map(|(v, p)| format!("{v}: {p}")).collect();
                out.push_str(&format!(
                    "  {} ({}): upstream {}; Qubes {}. {} Override: {}. [{}]\n",
                    c.what,
                    c.file,
                    c.upstream,
                    c.qubes,
                    c.reason,
                    c.override_with,
                    patches.join(", ")
                ));
            }
            out.push_str("\nTools configure flags:\n");
            for s in t.flag_sets {
                out.push_str(&format!(
                    "  {:<11} {} [{}]\n",
                    s.who,
                    s.flags.join(" "),
                    s.source
                ));
            }
            if let Some(p) = &t.package_flags {
                out.push_str(&format!(
                    "  {:<11} {} [{}]\n",
                    p.who,
                    p.flags.join(" "),
                    p.source
                ));
            }
            for w in &t.flag_warnings {
                out.push_str(&format!(
                    "  warning: {}: {}: {}: {}\n",
                    w.who, w.flag, w.kind, w.message
                ));
            }
            out.push_str(&format!(
                "\nGuest libraries (closure of {}): {}\n",
                t.guest_roots.join(", "),
                t.guest_closure.join(", ")
            ));
            for (f, why) in t.flags_affecting_guest_libs {
                out.push_str(&format!("  affected by --{f}: {why}\n"));
            }
        }
        out
    }
}

fn short(v: &Option<String>) -> String {
    let s = match v {
        Some(v) => v.clone(),
        None => "-".into(),
    };
    if s.chars().count() > 14 {
        s.chars().take(11).collect::<String>() + "..."
    } else {
        s
    }
}
