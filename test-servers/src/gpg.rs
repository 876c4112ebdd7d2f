//! Throw-away OpenPGP keys made by real `gpg` in a temporary GNUPGHOME, for signing tarballs and
//! git tags in tests exactly as upstream does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A gpg home with one secret key (no passphrase). Deleted on drop.
pub struct GpgKey {
    home: tempfile::TempDir,
    fingerprint: String,
}

fn run(cmd: &mut Command, what: &str) -> std::io::Result<Vec<u8>> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

impl GpgKey {
    /// Generate a signing key for `uid` (e.g. `"Test Signer <t@example.org>"`); `algo` as gpg's
    /// `--quick-gen-key` takes it: `"ed25519"` (fast) or `"rsa2048"` (like the Xen key).
    pub fn generate(uid: &str, algo: &str) -> std::io::Result<Self> {
        let home = tempfile::Builder::new().prefix("gpg-").tempdir()?;
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(["--quick-gen-key", uid, algo, "sign", "never"]);
        run(&mut c, "gpg --quick-gen-key")?;
        let mut k = Self {
            home,
            fingerprint: String::new(),
        };
        let listing = run(
            k.gpg().args(["--with-colons", "--list-secret-keys"]),
            "gpg --list-secret-keys",
        )?;
        let listing = String::from_utf8_lossy(&listing);
        k.fingerprint = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .map(str::to_owned)
            .ok_or_else(|| std::io::Error::other("gpg listed no fingerprint"))?;
        Ok(k)
    }

    /// A `gpg` command using this key's home, in batch mode.
    pub fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--quiet"]);
        c
    }

    /// The GNUPGHOME directory (for `git tag -s`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Primary key fingerprint, uppercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The public key, ASCII-armored.
    pub fn armored_public_key(&self) -> std::io::Result<String> {
        let out = run(
            self.gpg().args(["--armor", "--export", &self.fingerprint]),
            "gpg --export",
        )?;
        String::from_utf8(out).map_err(std::io::Error::other)
    }

    /// A detached signature of `file`, armored (like upstream's `.sig` when `armor`) or binary.
    pub fn sign_detached(&self, file: &Path, armor: bool) -> std::io::Result<Vec<u8>> {
        let mut c = self.gpg();
        c.args([
            "--local-user",
            &self.fingerprint,
            "--detach-sign",
            "--output",
            "-",
        ]);
        if armor {
            c.arg("--armor");
        }
        c.arg(file);
        run(&mut c, "gpg --detach-sign")
    }

    /// Write a detached signature next to `file` as `file.sig` and return its path.
    pub fn sign_to_sig_file(&self, file: &Path) -> std::io::Result<PathBuf> {
        let sig = self.sign_detached(file, true)?;
        let mut p = file.as_os_str().to_owned();
        p.push(".sig");
        let p = PathBuf::from(p);
        std::fs::write(&p, sig)?;
        Ok(p)
    }
}

impl Drop for GpgKey {
    /// Stop the gpg-agent this home started, so tests leave no daemons behind.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
