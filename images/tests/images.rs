//! Builds every image type from a tree the test makes and checks the results with the real
//! tools: sfdisk, e2fsck, debugfs, GNU tar, rpm and qemu-img.

mod common;

use common::*;
use images::{build, BuildOptions, ImageError, ImageSpec};
use std::path::Path;
use std::process::Command;

fn spec(dir: &Path, text: &str) -> ImageSpec {
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    ImageSpec::load(&path).unwrap()
}

fn opts(t: &str) -> BuildOptions {
    BuildOptions {
        image_type: Some(t.to_string()),
        force: false,
    }
}

const TEMPLATE_SPEC: &str = r#"
name = "guix-tiny"
type = "qubes-template"
size = "guess"
root = { directory = "tree" }
source-date-epoch = 1700000000

[qubes]
version = "4.2.0"
release = "7"
virt-mode = "pvh"
kernel = ""
features = ["qrexec", "gui"]
net-fake-ip = "10.137.0.5"
menu-items = ["xterm.desktop", "guix.desktop"]
default-menu-items = ["xterm.desktop"]
rpm = true
part-size = "1MiB"
"#;

#[test]
fn qubes_template_is_qubes_shaped_and_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path());
    let s = spec(tmp.path(), TEMPLATE_SPEC);
    let out = tmp.path().join("out");
    let report = build(&s, &out, &BuildOptions::default()).unwrap();
    assert_eq!(report.image_type, "qubes-template");
    let again = tmp.path().join("again");
    build(&s, &again, &BuildOptions::default()).unwrap();
    assert_same_dirs(&out, &again);

    // Several 1 MiB parts, named like split -d, that GNU tar reassembles into root.img.
    let parts: Vec<String> = entries(&out)
        .into_iter()
        .filter(|n| n.starts_with("root.img.part."))
        .collect();
    assert!(parts.len() >= 2, "{parts:?}");
    assert_eq!(parts[0], "root.img.part.00");
    let disk_size = report.layout.as_ref().unwrap().disk_size;

    // qvm-template reads the size from the first 512 bytes of part 00.
    let first = std::fs::read(out.join("root.img.part.00")).unwrap();
    let header = tmp.path().join("header.tar");
    std::fs::write(&header, &first[..512]).unwrap();
    let listing = Command::new("tar")
        .arg("tvf")
        .arg(&header)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&listing.stdout).to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields.get(2),
        Some(&disk_size.to_string().as_str()),
        "{line}"
    );
    assert_eq!(fields.get(1), Some(&"0/0"), "{line}");
    assert!(line.trim_end().ends_with("root.img"), "{line}");
    assert_eq!(first[156], b'S', "old-GNU sparse member");

    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let cat = parts
        .iter()
        .map(|p| out.join(p).display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    tool(Command::new("sh").arg("-c").arg(format!(
        "cat {cat} | tar --sparse -xf - -C {}",
        unpacked.display()
    )));
    let img = unpacked.join("root.img");
    let meta = std::fs::metadata(&img).unwrap();
    assert_eq!(meta.len(), disk_size);
    let allocated = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
    assert!(
        allocated < disk_size / 10,
        "root.img is not sparse: {allocated} of {disk_size}"
    );

    // Qubes' GPT: fixed label id, p1 200 MiB ESP, p2 2 MiB BIOS boot, p3 root to the end.
    let dump = tool(Command::new("sfdisk").arg("--dump").arg(&img));
    assert!(dump.contains("label: gpt"), "{dump}");
    assert!(
        dump.contains("label-id: F4796A2A-E377-45BD-B539-D6D49E569055"),
        "{dump}"
    );
    let p: Vec<&str> = dump.lines().filter(|l| l.contains("start=")).collect();
    assert_eq!(p.len(), 3, "{dump}");
    assert!(p[0].contains("start=        2048, size=      409600, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=FA4D6529-56DA-47C7-AE88-E2DFECB72621, name=\"EFI System\""), "{}", p[0]);
    assert!(
        p[1].contains("size=        4096, type=21686148-6449-6E6F-744E-656564454649"),
        "{}",
        p[1]
    );
    assert!(p[1].contains("name=\"BIOS boot partition\""), "{}", p[1]);
    assert!(p[2].contains("type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=693244E6-3E07-47BF-AD79-ACADE4293FE7, name=\"Root filesystem\""), "{}", p[2]);
    let root = report.layout.as_ref().unwrap().root().clone();
    assert_eq!(
        root.start + root.size + (1 << 20),
        disk_size,
        "p3 runs to the end"
    );

    // The filesystem: clean, root-owned, modes and content kept, times clamped.
    let off = root.start;
    tool(
        Command::new("e2fsck")
            .arg("-fn")
            .arg(format!("{}?offset={off}", img.display())),
    );
    let motd = debugfs(&img, off, "stat /etc/motd");
    assert!(motd.contains("User:     0   Group:     0"), "{motd}");
    assert!(motd.contains("Mode:  0600"), "{motd}");
    assert!(
        motd.contains("ctime: 0x6553f100"),
        "ctime clamped to the source date: {motd}"
    );
    let init = debugfs(&img, off, "stat /sbin/init");
    assert!(
        init.contains("Mode:  0755") && init.contains("User:     0   Group:     0"),
        "{init}"
    );
    assert_eq!(
        debugfs(&img, off, "cat /etc/motd"),
        "hello from the template\n"
    );
    let listing = debugfs(&img, off, "ls -l /sbin");
    assert!(listing.contains("blob-link"), "{listing}");
    let link = debugfs(&img, off, "stat /sbin/blob-link");
    assert!(
        link.contains("Fast link dest: \"../usr/bin/blob\""),
        "{link}"
    );
    let super_block = debugfs(&img, off, "stats");
    assert!(
        super_block.contains(&format!("Filesystem UUID:          {}", s.root_fs_uuid)),
        "{super_block}"
    );
    assert!(super_block.contains("has_journal"), "{super_block}");
    let dump_blob = tmp.path().join("blob");
    debugfs(
        &img,
        off,
        &format!("dump /usr/bin/blob {}", dump_blob.display()),
    );
    assert_eq!(
        std::fs::read(&dump_blob).unwrap(),
        std::fs::read(tmp.path().join("tree/usr/bin/blob")).unwrap()
    );

    // template.conf: only Qubes keys, no comments; menu lists one item per line.
    assert_eq!(
        std::fs::read_to_string(out.join("template.conf")).unwrap(),
        "virt-mode=pvh\nkernel=\ngui=1\nqrexec=1\nnet.fake-ip=10.137.0.5\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("whitelisted-appmenus.list")).unwrap(),
        "xterm.desktop\nguix.desktop\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("vm-whitelisted-appmenus.list")).unwrap(),
        "xterm.desktop\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("netvm-whitelisted-appmenus.list")).unwrap(),
        ""
    );

    // The RPM: noarch, Qubes' install path, %pre refuses a plain install.
    let rpm = out.join("qubes-template-guix-tiny-4.2.0-7.noarch.rpm");
    let info = tool(Command::new("rpm").arg("-qpi").arg(&rpm));
    assert!(
        info.contains("Name        : qubes-template-guix-tiny"),
        "{info}"
    );
    assert!(info.contains("Architecture: noarch"), "{info}");
    assert!(info.contains("Release     : 7"), "{info}");
    let files = tool(Command::new("rpm").arg("-qpl").arg(&rpm));
    for want in [
        "/var/lib/qubes/vm-templates/guix-tiny/root.img.part.00",
        "/var/lib/qubes/vm-templates/guix-tiny/template.conf",
        "/var/lib/qubes/vm-templates/guix-tiny/whitelisted-appmenus.list",
        "/var/lib/qubes/vm-templates/guix-tiny/vm-whitelisted-appmenus.list",
        "/var/lib/qubes/vm-templates/guix-tiny/netvm-whitelisted-appmenus.list",
    ] {
        assert!(
            files.lines().any(|l| l == want),
            "{want} missing from {files}"
        );
    }
    let scripts = tool(Command::new("rpm").arg("-qp").arg("--scripts").arg(&rpm));
    assert!(
        scripts.contains("preinstall scriptlet") && scripts.contains("exit 1"),
        "{scripts}"
    );
    let provides = tool(Command::new("rpm").arg("-qp").arg("--provides").arg(&rpm));
    assert!(provides.contains("qubes-template"), "{provides}");
}

const RAW_SPEC: &str = r#"
name = "custom-disk"
size = "48MiB"
root = { directory = "tree" }
disk-id = "0b1e7a5e-1111-4222-8333-944445555666"
root-fs-uuid = "3d0c8b9a-0000-4000-8000-00000000beef"
volatile-root = true
compression = "zstd"

[[partition]]
label = "boot"
type = "esp"
size = "8MiB"
uuid = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

[[partition]]
label = "guix-root"
type = "linux"
size = "rest"
filesystem = "ext4"
content = "root"
"#;

#[test]
fn raw_and_qcow2_use_the_spec_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path());
    let s = spec(tmp.path(), RAW_SPEC);
    let raw_out = tmp.path().join("raw");
    let report = build(&s, &raw_out, &opts("raw")).unwrap();
    let disk = raw_out.join("disk.img");
    assert_eq!(std::fs::metadata(&disk).unwrap().len(), 48 << 20);
    let dump = tool(Command::new("sfdisk").arg("--dump").arg(&disk));
    assert!(
        dump.contains("label-id: 0B1E7A5E-1111-4222-8333-944445555666"),
        "{dump}"
    );
    assert!(dump.contains("start=        2048, size=       16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE, name=\"boot\""), "{dump}");
    assert!(
        dump.contains(
            "start=       18432, size=       77824, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        ),
        "{dump}"
    );
    assert!(dump.contains("name=\"guix-root\""), "{dump}");
    let root = report.layout.as_ref().unwrap().root().clone();
    assert_eq!(root.start, 9 << 20);
    tool(Command::new("e2fsck").arg("-fn").arg(format!(
        "{}?offset={}",
        disk.display(),
        root.start
    )));
    let stats = debugfs(&disk, root.start, "stats");
    assert!(
        stats.contains("Filesystem UUID:          3d0c8b9a-0000-4000-8000-00000000beef"),
        "{stats}"
    );
    assert!(
        !stats.contains("has_journal"),
        "volatile root gets no journal: {stats}"
    );

    // qcow2 from the same spec: qemu-img is happy and its content is the raw image.
    let q_out = tmp.path().join("qcow2");
    build(&s, &q_out, &opts("qcow2")).unwrap();
    let q = q_out.join("disk.qcow2");
    tool(Command::new("qemu-img").arg("check").arg(&q));
    let info = tool(
        Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&q),
    );
    assert!(info.contains("\"format\": \"qcow2\""), "{info}");
    assert!(
        info.contains(&format!("\"virtual-size\": {}", 48u64 << 20)),
        "{info}"
    );
    tool(
        Command::new("qemu-img")
            .args(["compare", "-f", "qcow2", "-F", "raw"])
            .arg(&q)
            .arg(&disk),
    );
    let q_again = tmp.path().join("qcow2-again");
    build(&s, &q_again, &opts("qcow2")).unwrap();
    assert_same_dirs(&q_out, &q_again);
}

#[test]
fn tarball_type_and_tarball_content() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path());
    // A gzip tarball of the tree as root content, made with GNU tar like a distribution would.
    tool(
        Command::new("tar")
            .arg("-C")
            .arg(tmp.path().join("tree"))
            .arg("-czf")
            .arg(tmp.path().join("rootfs.tar.gz"))
            .arg("."),
    );
    let text = "name = \"from-tar\"\ntype = \"tarball\"\nroot = { tarball = \"rootfs.tar.gz\" }\ncompression = \"gzip\"\n";
    let s = spec(tmp.path(), text);
    let out = tmp.path().join("out");
    build(&s, &out, &BuildOptions::default()).unwrap();
    let listing = tool(Command::new("tar").arg("tvzf").arg(out.join("root.tar.gz")));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert!(
        names.contains(&"./sbin/init") && names.contains(&"./etc/motd"),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("0/0")),
        "{listing}"
    );
    assert!(
        listing.contains("-rw------- 0/0              24 "),
        "{listing}"
    );
    let again = tmp.path().join("again");
    build(&s, &again, &BuildOptions::default()).unwrap();
    assert_same_dirs(&out, &again);

    // The same spec builds a raw disk; the unpacked tarball's timestamps are clamped, so two
    // builds (two unpackings) still agree.
    let r1 = tmp.path().join("r1");
    let r2 = tmp.path().join("r2");
    build(&s, &r1, &opts("raw")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build(&s, &r2, &opts("raw")).unwrap();
    assert_same_dirs(&r1, &r2);
}

#[test]
fn tarball_escaping_the_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = tmp.path().join("evil.tar");
    // Hand-made header: tar::Builder refuses `..` names itself, so write the bytes directly.
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..10].copy_from_slice(b"../escaped");
    header.set_size(2);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(b"hi");
    bytes.resize(512 * 2, 0);
    bytes.extend_from_slice(&[0u8; 1024]);
    std::fs::write(&evil, bytes).unwrap();
    let s = spec(
        tmp.path(),
        "name = \"evil\"\nroot = { tarball = \"evil.tar\" }\n",
    );
    let before = entries(tmp.path());
    let err = build(&s, &tmp.path().join("out"), &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("escapes the root"), "{err}");
    assert!(err.to_string().contains("evil.tar"), "{err}");
    assert_eq!(entries(tmp.path()), before);
    assert!(!tmp.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn bad_specs_fail_clearly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path());
    let out = tmp.path().join("out");
    let fail = |text: &str, t: Option<&str>| -> String {
        let path = tmp.path().join("spec.toml");
        std::fs::write(&path, text).unwrap();
        let before = entries(tmp.path());
        let err = match ImageSpec::load(&path) {
            Err(e) => e,
            Ok(s) => build(
                &s,
                &out,
                &BuildOptions {
                    image_type: t.map(str::to_string),
                    force: false,
                },
            )
            .unwrap_err(),
        };
        let after = entries(tmp.path());
        assert_eq!(before, after, "a failed build left files behind: {err}");
        err.to_string()
    };
    let base = "name = \"bad\"\nroot = { directory = \"tree\" }\n";

    // Too small: 2 MiB of content in a disk whose root partition gets 3 MiB.
    let e = fail(&format!("{base}size = \"206MiB\"\n"), None);
    assert!(
        e.contains("key `size`") && e.contains("root partition"),
        "{e}"
    );
    // Too small for even the fixed partitions.
    let e = fail(&format!("{base}size = 1048576\n"), None);
    assert!(e.contains("key `size`"), "{e}");
    // Unknown image type, from the spec and from the command line.
    let e = fail(&format!("{base}type = \"iso9660\"\n"), None);
    assert!(
        e.contains("unknown image type `iso9660`")
            && e.contains("key `type`")
            && e.contains("qubes-template"),
        "{e}"
    );
    let e = fail(base, Some("vmdk"));
    assert!(e.contains("`vmdk`") && e.contains("command line"), "{e}");
    // Bad GUIDs.
    let e = fail(&format!("{base}disk-id = \"not-a-guid\"\n"), None);
    assert!(
        e.contains("key `disk-id`") && e.contains("not-a-guid"),
        "{e}"
    );
    let e = fail(
        &format!("{base}[[partition]]\nlabel = \"r\"\ntype = \"0FC63DAF-8483-4772-8E79-XXXXXXXXXXXX\"\nsize = \"rest\"\nfilesystem = \"ext4\"\ncontent = \"root\"\n"),
        None,
    );
    assert!(e.contains("key `partition[0].type`"), "{e}");
    // Unknown keys and bad Qubes metadata.
    let e = fail(&format!("{base}colour = \"blue\"\n"), None);
    assert!(e.contains("spec.toml") && e.contains("colour"), "{e}");
    let e = fail(
        &format!("{base}[qubes]\nfeatures = [\"telemetry\"]\n"),
        None,
    );
    assert!(
        e.contains("key `qubes.features`") && e.contains("telemetry"),
        "{e}"
    );
    let e = fail(&format!("{base}[qubes]\nkernel = \"6.1\"\n"), None);
    assert!(e.contains("key `qubes.kernel`"), "{e}");
    // Missing init.
    std::fs::remove_file(tmp.path().join("tree/sbin/init")).unwrap();
    let e = fail(base, Some("raw"));
    assert!(e.contains("/sbin/init") && e.contains("tree"), "{e}");
    // An existing output is not replaced without --force.
    std::fs::write(tmp.path().join("tree/sbin/init"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir(&out).unwrap();
    let e = fail(base, Some("tarball"));
    assert!(e.contains("already exists"), "{e}");
}

#[test]
fn harness_api_builds_a_raw_disk_from_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let out = tmp.path().join("disk");
    let report = images::raw_image_from_dir("e2e-guest", &tree, &out).unwrap();
    let root = report.layout.unwrap().root().clone();
    let disk = out.join("disk.img");
    tool(Command::new("e2fsck").arg("-fn").arg(format!(
        "{}?offset={}",
        disk.display(),
        root.start
    )));
    assert_eq!(
        debugfs(&disk, root.start, "cat /sbin/init"),
        "#!/bin/sh\nexec /usr/bin/xs read name\n"
    );
    // Rebuilding over it with force works and stays identical.
    let first = std::fs::read(&disk).unwrap();
    let s = ImageSpec::parse(
        &format!(
            "name = \"e2e-guest\"\ntype = \"raw\"\nroot = {{ directory = {:?} }}\n",
            tree.display().to_string()
        ),
        Path::new("inline"),
        Path::new("."),
    )
    .unwrap();
    build(
        &s,
        &out,
        &BuildOptions {
            image_type: None,
            force: true,
        },
    )
    .unwrap();
    assert_eq!(std::fs::read(&disk).unwrap(), first);
    assert!(matches!(
        build(&s, &out, &BuildOptions::default()),
        Err(ImageError::OutputExists { .. })
    ));
}

#[test]
fn cli_lists_types_and_builds_with_json() {
    let bin = env!("CARGO_BIN_EXE_qxk-image");
    let list = tool(Command::new(bin).args(["--list-image-types", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw", "qcow2", "qubes-template", "tarball"]);
    let tmp = tempfile::tempdir().unwrap();
    make_tree(tmp.path());
    std::fs::write(
        tmp.path().join("spec.toml"),
        "name = \"cli\"\nroot = { directory = \"tree\" }\n",
    )
    .unwrap();
    let out = tmp.path().join("o");
    let json = tool(
        Command::new(bin)
            .args(["build", "--json", "-t", "tarball", "-o"])
            .arg(&out)
            .arg(tmp.path().join("spec.toml")),
    );
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["image_type"], "tarball");
    assert!(out.join("root.tar").exists());
    let bad = Command::new(bin)
        .args(["build", "-t", "floppy"])
        .arg(tmp.path().join("spec.toml"))
        .output()
        .unwrap();
    // A usage error, told by clap with the registered types.
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("invalid value 'floppy'")
            && err.contains("possible values: raw, qcow2, qubes-template, tarball"),
        "{err}"
    );
    // A bad spec is one `error:` line and its causes, never a stack trace, even when the
    // user's environment asks Rust for backtraces.
    std::fs::write(tmp.path().join("bad.toml"), "name = 3\n").unwrap();
    let bad = Command::new(bin)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .args(["build"])
        .arg(tmp.path().join("bad.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("bad.toml"),
        "{err}"
    );
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
}

/// As root, run the CLI as `nobody` too: the build needs no privileges and the result does not
/// depend on who built it. (Run as a normal user, every other test is already rootless.)
#[test]
fn unprivileged_build_matches_root_build() {
    use std::os::unix::fs::PermissionsExt;
    if !unsafe_is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("not root (or no setpriv): the other tests already run unprivileged");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    make_tree(tmp.path());
    // nobody must be able to read the tree it packs.
    std::fs::set_permissions(
        tmp.path().join("tree/etc/motd"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let spec_path = tmp.path().join("spec.toml");
    std::fs::write(&spec_path, TEMPLATE_SPEC).unwrap();
    let bin = env!("CARGO_BIN_EXE_qxk-image");
    let as_root = tmp.path().join("root-built");
    tool(
        Command::new(bin)
            .arg("build")
            .arg(&spec_path)
            .arg("-o")
            .arg(&as_root),
    );
    let as_nobody = tmp.path().join("nobody-built");
    tool(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "env"])
            .arg(format!("HOME={}", tmp.path().display()))
            .arg(bin)
            .arg("build")
            .arg(&spec_path)
            .arg("-o")
            .arg(&as_nobody),
    );
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(as_nobody.join("template.conf")).unwrap(),
    );
    assert_eq!(owner, 65534);
    assert_same_dirs(&as_root, &as_nobody);
}

/// A tarball shaped like `package-defs bundle`'s: `opt/qubes-xen/<version>/lib/…` and the
/// relative link `opt/qubes-xen/current`.
fn guest_bundle(path: &Path, version: &str) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut t = tar::Builder::new(gz);
    let dir = |t: &mut tar::Builder<_>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        t.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for d in ["opt/", "opt/qubes-xen/"] {
        dir(&mut t, d);
    }
    dir(&mut t, &format!("opt/qubes-xen/{version}/"));
    dir(&mut t, &format!("opt/qubes-xen/{version}/lib/"));
    let data = format!("libxenvchan {version}\n");
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    t.append_data(
        &mut h,
        format!("opt/qubes-xen/{version}/lib/libxenvchan.so.4.17.0"),
        data.as_bytes(),
    )
    .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    t.append_link(&mut h, "opt/qubes-xen/current", version)
        .unwrap();
    t.into_inner().unwrap().finish().unwrap();
}

#[test]
fn added_tarballs_land_over_the_root_in_order_and_leave_the_tree_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    guest_bundle(&tmp.path().join("old.tar.gz"), "4.17.4-5");
    guest_bundle(&tmp.path().join("new.tar.gz"), "4.17.6-6");
    let text = "name = \"with-bundle\"\ntype = \"tarball\"\nroot = { directory = \"tree\", add = [\"old.tar.gz\"] }\n";
    std::fs::write(tmp.path().join("spec.toml"), text).unwrap();
    let bin = env!("CARGO_BIN_EXE_qxk-image");
    let run = |out: &Path| {
        Command::new(bin)
            .arg("build")
            .arg(tmp.path().join("spec.toml"))
            .arg("--add")
            .arg(tmp.path().join("new.tar.gz"))
            .arg("-o")
            .arg(out)
            .output()
            .unwrap()
    };
    let out = tmp.path().join("out");
    let o = run(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = tool(Command::new("tar").arg("tvf").arg(out.join("root.tar")));
    // The spec's tarball first, then --add's: `current` is the newer bundle's, both folders
    // are there, the tree's own files too, everything 0:0.
    assert!(
        listing.contains("./opt/qubes-xen/current -> 4.17.6-6"),
        "{listing}"
    );
    for f in [
        "./opt/qubes-xen/4.17.4-5/lib/libxenvchan.so.4.17.0",
        "./opt/qubes-xen/4.17.6-6/lib/libxenvchan.so.4.17.0",
        "./sbin/init",
        "./sbin/blob-link -> ../usr/bin/blob",
    ] {
        assert!(listing.lines().any(|l| l.ends_with(f)), "{f}:\n{listing}");
    }
    assert!(
        listing.contains("-rw------- 0/0              24 "),
        "permissions kept through the copy:\n{listing}"
    );
    assert!(
        listing
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("0/0")),
        "{listing}"
    );
    assert!(!tree.join("opt").exists(), "the caller's tree was changed");
    let again = tmp.path().join("again");
    assert!(run(&again).status.success());
    assert_same_dirs(&out, &again);

    // An added tarball that does not exist is named.
    let o = Command::new(bin)
        .arg("build")
        .arg(tmp.path().join("spec.toml"))
        .arg("--add")
        .arg(tmp.path().join("missing.tar.gz"))
        .arg("-o")
        .arg(tmp.path().join("out3"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("missing.tar.gz: cannot open tarball"), "{e}");
    assert!(!tmp.path().join("out3").exists());
}
