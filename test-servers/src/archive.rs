//! Real tarballs for tests, made with the system `tar` (GNU tar) so they are what upstream ships,
//! plus hand-made hostile ones (`..`, absolute paths, escaping links) that `tar` refuses to make.

use std::path::Path;
use std::process::Command;

/// `tar -c` of `dir`'s contents under a top-level `prefix/`, compressed by `compress`
/// (`"gz"`, `"xz"` or `""`), written to `out`.
pub fn make_tarball(dir: &Path, prefix: &str, compress: &str, out: &Path) -> std::io::Result<()> {
    let flag = match compress {
        "gz" => "-z",
        "xz" => "-J",
        _ => "",
    };
    let mut c = Command::new("tar");
    c.arg("-c");
    if !flag.is_empty() {
        c.arg(flag);
    }
    let st = c
        .arg("-f")
        .arg(out)
        .arg("--sort=name")
        .arg("--owner=0")
        .arg("--group=0")
        .arg("--transform")
        // `S`: leave symlink targets alone (GNU tar rewrites them too by default).
        .arg(format!("s,^\\.,{prefix},S"))
        .arg("-C")
        .arg(dir)
        .arg(".")
        .status()?;
    if !st.success() {
        return Err(std::io::Error::other(format!(
            "tar failed for {}",
            dir.display()
        )));
    }
    Ok(())
}

/// One member of a hand-built tar.
pub enum Member<'a> {
    /// A regular file.
    File { path: &'a str, data: &'a [u8] },
    /// A symlink to `target` (taken verbatim).
    Symlink { path: &'a str, target: &'a str },
    /// A hard link to the earlier member `target`.
    Hardlink { path: &'a str, target: &'a str },
    /// A directory.
    Dir { path: &'a str },
}

fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}", v, w = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

/// A raw ustar stream with exactly these names, unchecked — for hostile-archive tests.
/// Hand-written because archive libraries (rightly) refuse to write such names.
pub fn raw_tar(members: &[Member<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let (path, kind, link, data): (&str, u8, &str, &[u8]) = match m {
            Member::File { path, data } => (path, b'0', "", data),
            Member::Symlink { path, target } => (path, b'2', target, b""),
            Member::Hardlink { path, target } => (path, b'1', target, b""),
            Member::Dir { path } => (path, b'5', "", b""),
        };
        let mut h = [0u8; 512];
        h[..path.len().min(100)].copy_from_slice(&path.as_bytes()[..path.len().min(100)]);
        octal(&mut h[100..108], if kind == b'5' { 0o755 } else { 0o644 });
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 0);
        h[156] = kind;
        h[157..157 + link.len().min(100)].copy_from_slice(&link.as_bytes()[..link.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// gzip `data` with the system `gzip` (a real peer, not our decoder's twin).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    pipe("gzip", &["-c", "-n"], data)
}

/// xz `data` with the system `xz`.
pub fn xz(data: &[u8]) -> std::io::Result<Vec<u8>> {
    pipe("xz", &["-c", "-T1"], data)
}

fn pipe(cmd: &str, args: &[&str], data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    let _ = w.join();
    if !out.status.success() {
        return Err(std::io::Error::other(format!("{cmd} failed")));
    }
    Ok(out.stdout)
}
