//! The shipped definitions hold the real pins of ../shared/fixtures.

mod common;
use common::*;

use package_defs::{load_dir, Body};

fn tsv(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn shipped_pins_equal_the_real_fixtures() {
    let defs = load_dir(&shipped()).unwrap();
    assert_eq!(
        defs.names(),
        [
            "qubes-vmm-xen-data",
            "qubes-xen-next",
            "qubes-xen-next-data",
            "xen"
        ]
    );
    let (_tmp, baseline) = baseline_copy();
    let baseline = load_dir(&baseline).unwrap();
    let pins = tsv(&fixtures().join("upstream/pins.tsv"));
    let pin = |r: &str| {
        pins.iter()
            .find(|p| p[1] == r)
            .unwrap_or_else(|| panic!("{r}"))
            .clone()
    };
    for (defs, xen, data, tag, release) in [
        (
            &defs,
            "xen",
            "qubes-vmm-xen-data",
            "v4.17.6-6",
            "RELEASE-4.17.6",
        ),
        (
            &defs,
            "qubes-xen-next",
            "qubes-xen-next-data",
            "v4.19.4-9",
            "RELEASE-4.19.4",
        ),
        // The tests' fixed starting point, corrected to rpm's 94 patches.
        (
            &baseline,
            "xen",
            "qubes-vmm-xen-data",
            "v4.17.4-5",
            "RELEASE-4.17.4",
        ),
    ] {
        let x = defs.get(xen).unwrap();
        assert_eq!(x.version.tag(), tag);
        let Body::Xen(xd) = &x.body else { panic!() };
        assert_eq!(xd.data, data);
        let up = pin(release);
        assert_eq!(
            (
                xd.upstream.git.as_str(),
                xd.upstream.tag.as_str(),
                xd.upstream.commit.as_deref().unwrap(),
                xd.upstream.nar_sha256.as_deref().unwrap()
            ),
            (
                up[0].as_str(),
                up[1].as_str(),
                up[2].as_str(),
                up[3].as_str()
            )
        );
        assert_eq!(
            xd.upstream.tarball.sha256, None,
            "tarball hash is unknown offline and must stay unpinned"
        );
        assert_eq!(
            xd.upstream.signing_keys,
            ["23E3222C145F4475FA8060A783FE14C957E82BD9"]
        );

        let d = defs.get(data).unwrap();
        let Body::QubesData(dd) = &d.body else {
            panic!()
        };
        let q = pin(tag);
        assert_eq!(
            (
                dd.source.repo.as_str(),
                dd.source.tag.as_deref().unwrap(),
                dd.source.commit.as_str(),
                dd.source.nar_sha256.as_str()
            ),
            (q[0].as_str(), q[1].as_str(), q[2].as_str(), q[3].as_str())
        );
        assert_eq!(
            dd.source.signing_keys,
            ["0064428F455451B3EBE78A7F063938BA42CFA724"]
        );
        let fx = fixtures().join("qubes-vmm-xen").join(tag);
        let cfg = content_hash::hash_file(&fx.join("config"))
            .unwrap()
            .0
            .to_hex();
        assert_eq!(dd.config.sha256, cfg);
        let series = tsv(&fx.join("patches.tsv"));
        assert_eq!(dd.patches.len(), series.len());
        for (p, row) in dd.patches.iter().zip(&series) {
            assert_eq!(format!("{:04}", p.number), row[0]);
            assert_eq!(p.file, row[1]);
            assert_eq!(p.sha256, row[2]);
        }
    }
    // The pinned keys are the real ones.
    for (fpr, file) in [
        (
            "23E3222C145F4475FA8060A783FE14C957E82BD9",
            "xen.org-key.asc",
        ),
        (
            "0064428F455451B3EBE78A7F063938BA42CFA724",
            "qubes-marmarek-key.asc",
        ),
    ] {
        assert_eq!(
            std::fs::read(shipped().join("keys").join(format!("{fpr}.asc"))).unwrap(),
            std::fs::read(fixtures().join("upstream").join(file)).unwrap()
        );
    }
}

#[test]
fn list_and_show_print_the_pins() {
    let o = run(&["list", "--json"], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "qubes-vmm-xen-data",
            "qubes-xen-next",
            "qubes-xen-next-data",
            "xen",
            // Qubes' components (definitions/components/), after the xen packages.
            "qubes-core-agent-linux",
            "qubes-core-agent-linux-next",
            "qubes-core-qrexec",
            "qubes-core-qrexec-next",
            "qubes-core-qubesdb",
            "qubes-core-qubesdb-next",
            "qubes-core-vchan-xen",
            "qubes-core-vchan-xen-next",
            "qubes-linux-utils",
            "qubes-linux-utils-next"
        ]
    );
    assert_eq!(v[6]["kind"], "qubes-component");
    assert_eq!(v[6]["version"], "4.2.25");
    assert_eq!(v[3]["version"], "4.17.6-6");

    let o = run(&["show", "qubes-xen-next", "--json"], &shipped());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "xen");
    assert_eq!(v["version"], "4.19.4-9");
    assert_eq!(v["stream"]["branch"], "main");
    assert_eq!(
        v["upstream"]["commit"],
        "ac1c1fb9e890da2f030c3427672e6f737478700b"
    );
    assert_eq!(v["upstream"]["tarball"]["sha256"], serde_json::Value::Null);

    let o = run(&["show", "qubes-vmm-xen-data"], &shipped());
    let s = stdout(&o);
    assert!(
        s.contains("0201 0201-EFI-early-Add-noexit-to-inhibit-calling-ExitBootServ.patch"),
        "{s}"
    );
    assert!(s.contains("patches: 111"), "{s}");

    let o = run(&["show", "nope"], &shipped());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown package 'nope'; known: qubes-vmm-xen-data, qubes-xen-next, qubes-xen-next-data, xen"), "{}", stderr(&o));
}
