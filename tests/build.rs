//! The bundle template's vchan client loads Xen's libraries from the guest bundle, as a
//! program built with the bundle's pkg-config files does (their `Libs:` carry this rpath).
fn main() {
    println!(
        "cargo:rustc-link-arg-bin=e2e-vchan=-Wl,--enable-new-dtags,-rpath,/opt/qubes-xen/current/lib"
    );
}
