//! Options Qubes' hypervisor config sets that a build's completed `.config` lost.
//!
//! `olddefconfig` keeps a value only where the tree's Kconfig allows it: an option whose
//! dependency is a toolchain probe (`CONFIG_XEN_IBT` on `HAS_CC_CET_IBT`, `CONFIG_RETURN_THUNK`
//! on `CC_HAS_RETURN_THUNK`, shadow stacks on `HAS_AS_CET_SS`) is turned off silently when the
//! compiler cannot support it. Both builds (`package-defs build` and the Guix packages, whose
//! phase does the same comparison in Scheme) fail on such a loss unless the Xen definition's
//! `allow_dropped_options` lists the option.

use xen_config::dotconfig::assignments;

/// One option Qubes sets that the completed config does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// As `.config` spells it: `CONFIG_XEN_IBT`.
    pub option: String,
    /// Qubes' value (`y`, a number, a string).
    pub qubes: String,
}

/// Every option Qubes' config sets (any value but `n`) that `completed` leaves unset or `n`,
/// sorted by name. Values that changed but stay set (`CONFIG_GCC_VERSION`) are not losses.
pub fn dropped_options(qubes: &[u8], completed: &[u8]) -> Vec<Dropped> {
    let kept = assignments(completed);
    assignments(qubes)
        .into_iter()
        .filter(|(_, v)| v != "n")
        .filter(|(k, _)| kept.get(k).is_none_or(|v| v == "n"))
        .map(|(k, v)| Dropped {
            option: format!("CONFIG_{k}"),
            qubes: v,
        })
        .collect()
}

/// The losses `allowed` (a definition's `allow_dropped_options`) does not cover.
pub fn unallowed(dropped: &[Dropped], allowed: &[String]) -> Vec<Dropped> {
    dropped
        .iter()
        .filter(|d| !allowed.contains(&d.option))
        .cloned()
        .collect()
}

/// `CONFIG_A (qubes: y), CONFIG_B (qubes: 3)` for messages.
pub fn describe(dropped: &[Dropped]) -> String {
    dropped
        .iter()
        .map(|d| format!("{} (Qubes: {})", d.option, d.qubes))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_option_turned_off_or_missing_is_dropped_a_changed_value_is_not() {
        let qubes = b"CONFIG_XEN_IBT=y\nCONFIG_SHADOW_PAGING=y\nCONFIG_GCC_VERSION=120200\n\
# CONFIG_DEBUG is not set\nCONFIG_NR_CPUS=256\nCONFIG_RETURN_THUNK=y\n";
        let done = b"# CONFIG_XEN_IBT is not set\nCONFIG_SHADOW_PAGING=y\n\
CONFIG_GCC_VERSION=140200\nCONFIG_NR_CPUS=256\n";
        let d = dropped_options(qubes, done);
        assert_eq!(
            d.iter().map(|d| d.option.as_str()).collect::<Vec<_>>(),
            ["CONFIG_RETURN_THUNK", "CONFIG_XEN_IBT"]
        );
        let left = unallowed(&d, &["CONFIG_XEN_IBT".to_string()]);
        assert_eq!(describe(&left), "CONFIG_RETURN_THUNK (Qubes: y)");
        assert!(dropped_options(qubes, qubes).is_empty());
    }
}
