//! Code the in-VM programs (`e2e-dom0`, `e2e-domu`) share.

pub mod load;
pub mod tool;
pub mod vchan;
