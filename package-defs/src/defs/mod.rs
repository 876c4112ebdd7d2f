//! The definitions and what they are read from: the typed model of a definition file
//! (`model`, `version`), reading and validating a folder (`load`), rewriting files in place
//! (`edit`) and swapping them in atomically (`txn`), and the readers of Qubes' packaging tree
//! the pins are checked against (`spec` for the rpm spec, `vm_series` for the Arch recipe's
//! VM-side series); `show` writes a package as text.

pub mod edit;
pub mod load;
pub mod model;
pub mod show;
pub mod spec;
pub mod txn;
pub mod version;
pub mod vm_series;
