//! The declarative image spec (TOML): what goes into an image, independent of the image type.
//! Validation happens here, once, so every type builds from a checked [`ImageSpec`].

use crate::error::{ImageError, Result};
use crate::size::{parse_size, MIB};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Qubes' fixed GPT disk identifier (its template builder pins it for reproducible tables).
pub const QUBES_DISK_ID: &str = "f4796a2a-e377-45bd-b539-d6d49e569055";
/// GPT type GUIDs used by the Qubes layout.
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const BIOS_BOOT_TYPE: &str = "21686148-6449-6E6F-744E-656564454649";
pub const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// Partition GUIDs Qubes' template builder pins for p1..p3.
pub const QUBES_PART_UUIDS: [&str; 3] = [
    "fa4d6529-56da-47c7-ae88-e2dfecb72621",
    "1e6c9db4-1e91-46c4-846a-2030dcb13b8c",
    "693244e6-3e07-47bf-ad79-acade4293fe7",
];

/// Raw TOML shape; kept separate from [`ImageSpec`] so errors can name the offending key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSpec {
    name: String,
    #[serde(rename = "type", default)]
    image_type: Option<String>,
    #[serde(default)]
    size: Option<toml::Value>,
    root: RawRoot,
    #[serde(default)]
    compression: Option<String>,
    #[serde(default)]
    volatile_root: bool,
    #[serde(default)]
    source_date_epoch: Option<i64>,
    #[serde(default)]
    disk_id: Option<String>,
    #[serde(default)]
    root_fs_uuid: Option<String>,
    #[serde(default, rename = "partition")]
    partitions: Vec<RawPartition>,
    #[serde(default)]
    qubes: Option<RawQubes>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRoot {
    directory: Option<PathBuf>,
    tarball: Option<PathBuf>,
    #[serde(default)]
    add: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPartition {
    label: String,
    #[serde(rename = "type")]
    type_guid: String,
    size: toml::Value,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    filesystem: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawQubes {
    version: Option<String>,
    release: Option<String>,
    summary: Option<String>,
    virt_mode: Option<String>,
    kernel: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    net_fake_ip: Option<String>,
    net_fake_gateway: Option<String>,
    net_fake_netmask: Option<String>,
    #[serde(default)]
    menu_items: Vec<String>,
    #[serde(default)]
    default_menu_items: Vec<String>,
    #[serde(default)]
    netvm_menu_items: Vec<String>,
    #[serde(default)]
    rpm: bool,
    part_size: Option<toml::Value>,
}

/// Where the root filesystem's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootContent {
    Directory(PathBuf),
    /// A tar archive (plain or gzip) built with any distribution's tools.
    Tarball(PathBuf),
}

/// Requested disk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskSize {
    /// Content × 1.25, rounded up (see [`crate::layout`]).
    Guess,
    Bytes(u64),
}

/// Size of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartSize {
    Bytes(u64),
    /// Everything up to the end of the disk (only the last partition).
    Rest,
}

/// What a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// Left empty (EFI or BIOS boot space for a bootloader).
    None,
    Ext4,
}

/// One GPT partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub label: String,
    pub type_guid: Uuid,
    pub size: PartSize,
    pub uuid: Uuid,
    pub filesystem: Filesystem,
    /// True for the partition that receives the root tree.
    pub root: bool,
}

/// Output compression; each image type applies it where it means something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// Qubes template metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QubesMeta {
    pub version: String,
    pub release: String,
    pub summary: String,
    /// `template.conf` lines, in a fixed order.
    pub conf: Vec<(String, String)>,
    pub menu_items: Vec<String>,
    pub default_menu_items: Vec<String>,
    pub netvm_menu_items: Vec<String>,
    pub rpm: bool,
    pub part_size: u64,
}

/// A checked image spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub image_type: Option<String>,
    pub size: DiskSize,
    pub root: RootContent,
    /// Tarballs unpacked over the root, in order (say, the Qubes Xen guest bundle of
    /// `package-defs bundle`), so a template gets them without editing its root tree.
    pub add: Vec<PathBuf>,
    pub compression: Compression,
    pub volatile_root: bool,
    pub source_date_epoch: i64,
    pub disk_id: Uuid,
    pub root_fs_uuid: Uuid,
    pub partitions: Vec<Partition>,
    pub qubes: QubesMeta,
}

/// Boolean features `qvm-template-postprocess` imports from `template.conf` (value `1`).
pub const QUBES_BOOL_FEATURES: &[&str] = &[
    "no-monitor-layout",
    "pci-e820-host",
    "linux-stubdom",
    "gui",
    "gui-emulated",
    "qrexec",
];

/// Default `source-date-epoch` (2024-01-01) so unconfigured builds are still reproducible.
pub const DEFAULT_EPOCH: i64 = 1_704_067_200;
/// Default size of the root.img.part.NN pieces (Qubes uses 1 GiB).
pub const DEFAULT_PART_SIZE: u64 = 1 << 30;

/// Namespace for UUIDs derived from the image name when the spec does not pin them.
const UUID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_4c2e_93b1_4d0a_9e57_2c1f_0b7e_a3d5);

/// The Qubes template layout: 200 MiB ESP, 2 MiB BIOS boot, root filesystem to the end.
pub fn qubes_partitions() -> Vec<Partition> {
    let g = |s: &str| Uuid::parse_str(s).expect("constant GUID");
    vec![
        Partition {
            label: "EFI System".into(),
            type_guid: g(ESP_TYPE),
            size: PartSize::Bytes(200 * MIB),
            uuid: g(QUBES_PART_UUIDS[0]),
            filesystem: Filesystem::None,
            root: false,
        },
        Partition {
            label: "BIOS boot partition".into(),
            type_guid: g(BIOS_BOOT_TYPE),
            size: PartSize::Bytes(2 * MIB),
            uuid: g(QUBES_PART_UUIDS[1]),
            filesystem: Filesystem::None,
            root: false,
        },
        Partition {
            label: "Root filesystem".into(),
            type_guid: g(LINUX_FS_TYPE),
            size: PartSize::Rest,
            uuid: g(QUBES_PART_UUIDS[2]),
            filesystem: Filesystem::Ext4,
            root: true,
        },
    ]
}

impl ImageSpec {
    /// Reads and checks a spec file; relative content paths resolve against its directory.
    pub fn load(path: &Path) -> Result<ImageSpec> {
        let text = std::fs::read_to_string(path).map_err(|source| ImageError::ReadSpec {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, path, &base)
    }

    /// Parses spec text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<ImageSpec> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| ImageError::SpecSyntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let key_err = |key: &str, message: String| ImageError::SpecKey {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || raw.name.starts_with(['.', '-'])
        {
            return Err(key_err(
                "name",
                format!("`{}` must be non-empty ASCII letters, digits, `-`, `_`, `.` (it names the template and RPM)", raw.name),
            ));
        }
        let size = match &raw.size {
            None => DiskSize::Guess,
            Some(toml::Value::String(s)) if s == "guess" => DiskSize::Guess,
            Some(v) => DiskSize::Bytes(size_value(v).ok_or_else(|| {
                key_err(
                    "size",
                    format!("`{v}` is not \"guess\", a byte count or a size like \"2GiB\""),
                )
            })?),
        };
        let add: Vec<PathBuf> = raw.root.add.iter().map(|a| base.join(a)).collect();
        let root = match (raw.root.directory, raw.root.tarball) {
            (Some(d), None) => RootContent::Directory(base.join(d)),
            (None, Some(t)) => RootContent::Tarball(base.join(t)),
            _ => {
                return Err(key_err(
                    "root",
                    "give exactly one of `directory` or `tarball`".into(),
                ))
            }
        };
        let compression = match raw.compression.as_deref().unwrap_or("none") {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            other => {
                return Err(key_err(
                    "compression",
                    format!("`{other}` is not one of none, gzip, xz, zstd"),
                ))
            }
        };
        let parse_uuid = |key: &str, s: &str| {
            Uuid::parse_str(s).map_err(|e| {
                key_err(
                    key,
                    format!("`{s}` is not a GUID like {QUBES_DISK_ID} ({e})"),
                )
            })
        };
        let disk_id = parse_uuid("disk-id", raw.disk_id.as_deref().unwrap_or(QUBES_DISK_ID))?;
        let root_fs_uuid = match &raw.root_fs_uuid {
            Some(s) => parse_uuid("root-fs-uuid", s)?,
            None => Uuid::new_v5(&UUID_NAMESPACE, format!("{}/root-fs", raw.name).as_bytes()),
        };
        let partitions = if raw.partitions.is_empty() {
            qubes_partitions()
        } else {
            let n = raw.partitions.len();
            let mut parts = Vec::with_capacity(n);
            for (i, p) in raw.partitions.into_iter().enumerate() {
                let k = |field: &str| format!("partition[{i}].{field}");
                let type_guid = match p.type_guid.as_str() {
                    "esp" => Uuid::parse_str(ESP_TYPE).expect("constant GUID"),
                    "bios-boot" => Uuid::parse_str(BIOS_BOOT_TYPE).expect("constant GUID"),
                    "linux" => Uuid::parse_str(LINUX_FS_TYPE).expect("constant GUID"),
                    s => parse_uuid(&k("type"), s)?,
                };
                let size = match &p.size {
                    toml::Value::String(s) if s == "rest" => {
                        if i + 1 != n {
                            return Err(key_err(
                                &k("size"),
                                "only the last partition can be \"rest\"".into(),
                            ));
                        }
                        PartSize::Rest
                    }
                    v => {
                        let b = size_value(v).ok_or_else(|| {
                            key_err(&k("size"), format!("`{v}` is not a size or \"rest\""))
                        })?;
                        if b == 0 || b % MIB != 0 {
                            return Err(key_err(
                                &k("size"),
                                format!("{b} bytes is not a positive multiple of 1 MiB (partitions are MiB-aligned)"),
                            ));
                        }
                        PartSize::Bytes(b)
                    }
                };
                let uuid = match &p.uuid {
                    Some(s) => parse_uuid(&k("uuid"), s)?,
                    None => Uuid::new_v5(
                        &UUID_NAMESPACE,
                        format!("{}/partition/{i}", raw.name).as_bytes(),
                    ),
                };
                let filesystem = match p.filesystem.as_deref().unwrap_or("none") {
                    "none" => Filesystem::None,
                    "ext4" => Filesystem::Ext4,
                    other => {
                        return Err(key_err(
                            &k("filesystem"),
                            format!("`{other}` is not one of none, ext4"),
                        ))
                    }
                };
                let is_root = match p.content.as_deref().unwrap_or("none") {
                    "none" => false,
                    "root" => true,
                    other => {
                        return Err(key_err(
                            &k("content"),
                            format!("`{other}` is not one of none, root"),
                        ))
                    }
                };
                if is_root && filesystem != Filesystem::Ext4 {
                    return Err(key_err(
                        &k("filesystem"),
                        "the partition with content = \"root\" needs filesystem = \"ext4\"".into(),
                    ));
                }
                if p.label.len() > 36 || p.label.contains(['"', '\n', ',']) {
                    return Err(key_err(
                        &k("label"),
                        "at most 36 characters, without quotes, commas or newlines".into(),
                    ));
                }
                parts.push(Partition {
                    label: p.label,
                    type_guid,
                    size,
                    uuid,
                    filesystem,
                    root: is_root,
                });
            }
            if parts.iter().filter(|p| p.root).count() != 1 {
                return Err(key_err(
                    "partition",
                    "exactly one partition must have content = \"root\"".into(),
                ));
            }
            parts
        };
        let q = raw.qubes.unwrap_or_default();
        let mut conf = Vec::new();
        if let Some(v) = &q.virt_mode {
            if !["pv", "pvh", "hvm"].contains(&v.as_str()) {
                return Err(key_err(
                    "qubes.virt-mode",
                    format!("`{v}` is not one of pv, pvh, hvm"),
                ));
            }
            conf.push(("virt-mode".to_string(), v.clone()));
        }
        if let Some(k) = &q.kernel {
            if !k.is_empty() {
                return Err(key_err(
                    "qubes.kernel",
                    "Qubes only honours an empty kernel (boot the template's own kernel)".into(),
                ));
            }
            conf.push(("kernel".to_string(), String::new()));
        }
        let mut features = q.features.clone();
        features.sort();
        features.dedup();
        for f in &features {
            if !QUBES_BOOL_FEATURES.contains(&f.as_str()) {
                return Err(key_err(
                    "qubes.features",
                    format!(
                        "`{f}` is not a feature Qubes imports from template.conf; known: {}",
                        QUBES_BOOL_FEATURES.join(", ")
                    ),
                ));
            }
            conf.push((f.clone(), "1".to_string()));
        }
        for (key, val) in [
            ("net.fake-ip", &q.net_fake_ip),
            ("net.fake-gateway", &q.net_fake_gateway),
            ("net.fake-netmask", &q.net_fake_netmask),
        ] {
            if let Some(v) = val {
                if v.parse::<std::net::Ipv4Addr>().is_err() {
                    return Err(key_err(
                        &format!("qubes.{}", key.replace('.', "-")),
                        format!("`{v}` is not an IPv4 address"),
                    ));
                }
                conf.push((key.to_string(), v.clone()));
            }
        }
        for (key, items) in [
            ("qubes.menu-items", &q.menu_items),
            ("qubes.default-menu-items", &q.default_menu_items),
            ("qubes.netvm-menu-items", &q.netvm_menu_items),
        ] {
            if let Some(bad) = items
                .iter()
                .find(|i| !i.ends_with(".desktop") || i.contains(['/', ' ', '\n']))
            {
                return Err(key_err(
                    key,
                    format!("`{bad}` is not a .desktop file name without spaces or slashes"),
                ));
            }
        }
        let version = q.version.unwrap_or_else(|| "4.2.0".into());
        let release = q.release.unwrap_or_else(|| "1".into());
        for (key, v) in [("qubes.version", &version), ("qubes.release", &release)] {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+~".contains(c))
            {
                return Err(key_err(
                    key,
                    format!("`{v}` is not an RPM version (letters, digits, . _ + ~)"),
                ));
            }
        }
        let source_date_epoch = raw.source_date_epoch.unwrap_or(DEFAULT_EPOCH);
        if !(0..=i64::from(u32::MAX)).contains(&source_date_epoch) {
            return Err(key_err(
                "source-date-epoch",
                format!("{source_date_epoch} is outside 0..=4294967295 (ext4 and tar timestamps)"),
            ));
        }
        let part_size = match &q.part_size {
            None => DEFAULT_PART_SIZE,
            Some(v) => match size_value(v) {
                Some(b) if b >= 512 && b % 512 == 0 => b,
                _ => {
                    return Err(key_err(
                        "qubes.part-size",
                        format!("`{v}` is not a size that is a multiple of 512 bytes"),
                    ))
                }
            },
        };
        Ok(ImageSpec {
            name: raw.name.clone(),
            image_type: raw.image_type,
            size,
            root,
            add,
            compression,
            volatile_root: raw.volatile_root,
            source_date_epoch,
            disk_id,
            root_fs_uuid,
            partitions,
            qubes: QubesMeta {
                summary: q
                    .summary
                    .unwrap_or_else(|| format!("Qubes OS template for {}", raw.name)),
                version,
                release,
                conf,
                menu_items: q.menu_items,
                default_menu_items: q.default_menu_items,
                netvm_menu_items: q.netvm_menu_items,
                rpm: q.rpm,
                part_size,
            },
        })
    }
}

fn size_value(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(i) => u64::try_from(*i).ok(),
        toml::Value::String(s) => parse_size(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ImageSpec> {
        ImageSpec::parse(text, Path::new("t.toml"), Path::new("/base"))
    }

    #[test]
    fn defaults_are_the_qubes_layout_and_pinned_ids() {
        let s = parse("name = \"a\"\nroot = { directory = \"tree\" }\n").unwrap();
        assert_eq!(s.partitions, qubes_partitions());
        assert_eq!(s.disk_id.hyphenated().to_string(), QUBES_DISK_ID);
        assert_eq!(s.size, DiskSize::Guess);
        assert_eq!(s.root, RootContent::Directory(PathBuf::from("/base/tree")));
        assert_eq!(s.source_date_epoch, DEFAULT_EPOCH);
        // Derived ids depend on the name only: stable across builds, distinct across images.
        let again = parse("name = \"a\"\nroot = { tarball = \"r.tar\" }\n").unwrap();
        assert_eq!(s.root_fs_uuid, again.root_fs_uuid);
        let other = parse("name = \"b\"\nroot = { directory = \"tree\" }\n").unwrap();
        assert_ne!(s.root_fs_uuid, other.root_fs_uuid);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("name = \"../x\"\nroot = { directory = \"t\" }", "`name`"),
            ("name = \"x\"\nroot = { directory = \"t\", tarball = \"u\" }", "`root`"),
            ("name = \"x\"\nsize = \"big\"\nroot = { directory = \"t\" }", "`size`"),
            ("name = \"x\"\ncompression = \"lz4\"\nroot = { directory = \"t\" }", "`compression`"),
            ("name = \"x\"\nsource-date-epoch = -1\nroot = { directory = \"t\" }", "`source-date-epoch`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[qubes]\nvirt-mode = \"kvm\"", "`qubes.virt-mode`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[qubes]\nnet-fake-ip = \"10.0.0\"", "`qubes.net-fake-ip`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[qubes]\nmenu-items = [\"a b\"]", "`qubes.menu-items`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[qubes]\nversion = \"1-2\"", "`qubes.version`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[qubes]\npart-size = 1000", "`qubes.part-size`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[[partition]]\nlabel = \"r\"\ntype = \"linux\"\nsize = \"rest\"\n[[partition]]\nlabel = \"s\"\ntype = \"linux\"\nsize = \"1MiB\"\nfilesystem = \"ext4\"\ncontent = \"root\"", "`partition[0].size`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[[partition]]\nlabel = \"r\"\ntype = \"linux\"\nsize = 1000\ncontent = \"root\"", "`partition[0].size`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[[partition]]\nlabel = \"r\"\ntype = \"linux\"\nsize = \"rest\"\ncontent = \"root\"", "`partition[0].filesystem`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[[partition]]\nlabel = \"r\"\ntype = \"linux\"\nsize = \"rest\"", "`partition`"),
            ("name = \"x\"\nroot = { directory = \"t\" }\n[[partition]]\nlabel = \"r\"\ntype = \"linux\"\nuuid = \"zz\"\nsize = \"rest\"\nfilesystem = \"ext4\"\ncontent = \"root\"", "`partition[0].uuid`"),
        ];
        for (text, key) in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("key {key}")) && e.contains("t.toml"),
                "{text}: {e}"
            );
        }
    }
}
