//! The generated structs have the C compiler's sizes and offsets. bindgen's own
//! layout assertions run at compile time; this checks a few structs the safe layer
//! reads against a C program built from the same headers.

use std::mem::{offset_of, size_of};
use std::process::Command;

#[test]
fn struct_layouts_match_the_c_compiler() {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = dir.path().join("layout.c");
    std::fs::write(
        &c,
        r#"#include <stdio.h>
#include <stddef.h>
#include <xenctrl.h>
#include <xenstore.h>
#include <libxl.h>
#include <libxenvchan.h>
int main(void) {
    printf("xc_physinfo_t %zu %zu\n", sizeof(xc_physinfo_t), offsetof(xc_physinfo_t, free_pages));
    printf("xc_domaininfo_t %zu %zu\n", sizeof(xc_domaininfo_t), offsetof(xc_domaininfo_t, max_vcpu_id));
    printf("xs_permissions %zu %zu\n", sizeof(struct xs_permissions), offsetof(struct xs_permissions, perms));
    printf("libxl_dominfo %zu %zu\n", sizeof(libxl_dominfo), offsetof(libxl_dominfo, current_memkb));
    printf("libxl_domain_build_info %zu %zu\n", sizeof(libxl_domain_build_info), offsetof(libxl_domain_build_info, u));
    printf("libxenvchan %zu %zu\n", sizeof(struct libxenvchan), offsetof(struct libxenvchan, xs_path));
    printf("libxenvchan_ring %zu %zu\n", sizeof(struct libxenvchan_ring), offsetof(struct libxenvchan_ring, order));
    printf("vchan_interface %zu %zu\n", sizeof(struct vchan_interface), offsetof(struct vchan_interface, grants));
    return 0;
}
"#,
    )
    .expect("write C file");
    let exe = dir.path().join("layout");
    let mut cc = Command::new("cc");
    for inc in xen_sys::XEN_INCLUDE_DIRS {
        cc.arg(format!("-I{inc}"));
    }
    let status = cc.arg(&c).arg("-o").arg(&exe).status().expect("run cc");
    assert!(status.success(), "cc failed");
    let out = Command::new(&exe).output().expect("run layout program");
    let text = String::from_utf8(out.stdout).expect("utf-8");

    let rust = [
        (
            "xc_physinfo_t",
            size_of::<xen_sys::xc_physinfo_t>(),
            offset_of!(xen_sys::xc_physinfo_t, free_pages),
        ),
        (
            "xc_domaininfo_t",
            size_of::<xen_sys::xc_domaininfo_t>(),
            offset_of!(xen_sys::xc_domaininfo_t, max_vcpu_id),
        ),
        (
            "xs_permissions",
            size_of::<xen_sys::xs_permissions>(),
            offset_of!(xen_sys::xs_permissions, perms),
        ),
        (
            "libxl_dominfo",
            size_of::<xen_sys::libxl_dominfo>(),
            offset_of!(xen_sys::libxl_dominfo, current_memkb),
        ),
        (
            "libxl_domain_build_info",
            size_of::<xen_sys::libxl_domain_build_info>(),
            offset_of!(xen_sys::libxl_domain_build_info, u),
        ),
        (
            "libxenvchan",
            size_of::<xen_sys::libxenvchan>(),
            offset_of!(xen_sys::libxenvchan, xs_path),
        ),
        (
            "libxenvchan_ring",
            size_of::<xen_sys::libxenvchan_ring>(),
            offset_of!(xen_sys::libxenvchan_ring, order),
        ),
        (
            "vchan_interface",
            size_of::<xen_sys::vchan_interface>(),
            offset_of!(xen_sys::vchan_interface, grants),
        ),
    ];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), rust.len(), "C program printed {text:?}");
    for (line, (name, size, offset)) in lines.iter().zip(rust) {
        assert_eq!(
            *line,
            format!("{name} {size} {offset}"),
            "C vs Rust layout of {name}"
        );
    }
}

#[test]
fn static_inline_functions_are_callable() {
    // libxl_bitmap_* are `static inline` in libxl_utils.h: callable only through the
    // C wrappers bindgen generated and build.rs compiled.
    let mut bits = [0u8; 2];
    let mut map = xen_sys::libxl_bitmap {
        size: bits.len() as u32,
        map: bits.as_mut_ptr(),
    };
    unsafe {
        xen_sys::libxl_bitmap_set_any(&mut map);
        assert_eq!(bits, [0xff, 0xff]);
        let map2 = xen_sys::libxl_bitmap {
            size: 2,
            map: bits.as_mut_ptr(),
        };
        assert_eq!(
            xen_sys::libxl_bitmap_cpu_valid(&map2 as *const _ as *mut _, 15),
            1
        );
        assert_eq!(
            xen_sys::libxl_bitmap_cpu_valid(&map2 as *const _ as *mut _, 16),
            0
        );
        let mut map3 = xen_sys::libxl_bitmap {
            size: 2,
            map: bits.as_mut_ptr(),
        };
        xen_sys::libxl_bitmap_set_none(&mut map3);
    }
    assert_eq!(bits, [0, 0]);
    // 2 MiB in KiB is 2 MiB.
    assert_eq!(unsafe { xen_sys::libxl__sizekb_to_mb(2048) }, 2);
    assert_eq!(unsafe { xen_sys::libxl__sizekb_to_mb(2049) }, 3);
}

#[test]
fn version_cfgs_follow_the_headers() {
    let (major, minor, _) = xen_sys::XEN_VERSION;
    assert_eq!(cfg!(xen_4_17), (major, minor) >= (4, 17));
    assert_eq!(cfg!(xen_4_18), (major, minor) >= (4, 18));
    // xc_domain_getinfo was removed in 4.18; the cfg lets code follow that.
    #[cfg(not(xen_4_18))]
    let _removed_in_4_18 = xen_sys::xc_domain_getinfo;
    #[cfg(xen_4_18)]
    let _added_in_4_18 = xen_sys::xc_domain_getinfo_single;
}
