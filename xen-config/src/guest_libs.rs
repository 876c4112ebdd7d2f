//! The Xen libraries a Qubes VM needs: the dependency closure, read from the tree's own
//! `tools/libs/uselibs.mk` (so it follows upstream), of the libraries guests use.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};

/// Libraries Qubes guest components link: libxenvchan (qrexec, GUI) and libxenctrl.
pub const GUEST_ROOTS: &[&str] = &["vchan", "ctrl"];

/// Configure flags that change how those libraries are built or installed.
pub const FLAGS_AFFECTING_GUEST_LIBS: &[(&str, &str)] = &[
    ("tools", "--disable-tools builds none of the libraries"),
    (
        "rpath",
        "--enable-rpath embeds the library directory in every library",
    ),
    (
        "werror",
        "--disable-werror lets warnings through with newer compilers",
    ),
    (
        "prefix",
        "install location and the paths in the pkg-config files",
    ),
    (
        "libdir",
        "where the shared libraries and pkg-config files go",
    ),
    (
        "includedir",
        "where the headers (xenctrl.h, libxenvchan.h) go",
    ),
];

/// `USELIBS_<lib>` of every library in `tools/libs/uselibs.mk`.
pub fn read_uselibs(source_root: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let path = source_root.join("tools/libs/uselibs.mk");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut deps = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(lib) = line.strip_prefix("LIBS_LIBS +=") {
            deps.entry(lib.trim().to_string()).or_insert_with(Vec::new);
        } else if let Some(rest) = line.strip_prefix("USELIBS_") {
            let Some((lib, val)) = rest.split_once(":=") else {
                return Err(Error::Kconfig {
                    file: path.display().to_string(),
                    line: i + 1,
                    msg: "expected USELIBS_<lib> := <libs>".into(),
                });
            };
            deps.insert(
                lib.trim().to_string(),
                val.split_whitespace().map(str::to_string).collect(),
            );
        }
    }
    Ok(deps)
}

/// Every library `roots` need, directly or not. Unknown names are an error.
pub fn closure(
    deps: &BTreeMap<String, Vec<String>>,
    roots: &[&str],
) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    while let Some(l) = todo.pop() {
        let Some(d) = deps.get(&l) else {
            return Err(format!("library '{l}' is not in tools/libs/uselibs.mk"));
        };
        if out.insert(l) {
            todo.extend(d.iter().cloned());
        }
    }
    Ok(out)
}
