//! `show`'s text form of one package: every pin, one line each (the JSON form is the
//! model's serde).

use crate::defs::model::{Body, Package};

/// Every pin of `p` as indented text lines.
pub fn render(p: &Package) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} ({}, {})",
        p.name,
        p.version,
        p.kind(),
        p.path.display()
    );
    match &p.body {
        Body::Xen(x) => {
            let stream = match &x.stream.reference {
                crate::StreamRef::Branch(b) => format!("branch {b}"),
                crate::StreamRef::Commit(c) => format!("commit {c}"),
            };
            let _ = writeln!(
                s,
                "  stream: {} {} (Xen {})",
                x.stream.repo, stream, x.stream.xen_series
            );
            let _ = writeln!(s, "  data: {}", x.data);
            let u = &x.upstream;
            let unpinned = crate::defs::model::UNPINNED;
            let _ = writeln!(
                s,
                "  upstream ({} origin): {} {} {}\n    nar sha256 {}",
                u.origin.as_str(),
                u.git,
                u.tag,
                u.commit.as_deref().unwrap_or(unpinned),
                u.nar_sha256.as_deref().unwrap_or(unpinned)
            );
            let _ = writeln!(
                s,
                "  tarball: {} sha256 {}\n    sig {}",
                u.tarball.url,
                u.tarball.sha256.as_deref().unwrap_or(unpinned),
                u.tarball.sig_url
            );
            let _ = writeln!(s, "  signing keys: {}", u.signing_keys.join(", "));
            let _ = writeln!(s, "  hv_abi: {}", x.hv_abi);
            let _ = writeln!(s, "  configure flags: {}", x.configure_flags.join(" "));
        }
        Body::QubesData(d) => {
            let so = &d.source;
            let _ = writeln!(
                s,
                "  source: {} {} {}\n    nar sha256 {}",
                so.repo,
                so.tag.as_deref().unwrap_or("(untagged commit, unsigned)"),
                so.commit,
                so.nar_sha256
            );
            let _ = writeln!(s, "  signing keys: {}", so.signing_keys.join(", "));
            let _ = writeln!(s, "  config: {} sha256 {}", d.config.file, d.config.sha256);
            let sec = d
                .patches
                .iter()
                .filter(|p| crate::update::SECURITY_RANGE.contains(&p.number))
                .count();
            let _ = writeln!(s, "  patches: {} ({} security)", d.patches.len(), sec);
            for pp in &d.patches {
                let _ = writeln!(s, "    {:04} {} {}", pp.number, pp.file, pp.sha256);
            }
        }
    }
    s
}
