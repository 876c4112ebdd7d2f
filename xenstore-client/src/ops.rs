//! Node operations shared by a plain connection and a transaction: both only differ in the
//! transaction id they put in the header.

use crate::error::{Error, Result};
use crate::path;
use crate::perms::Perm;
use crate::wire::{self, DecodeError, Op, XsErrno};

pub(crate) fn expect_ok(op: Op, reply: &[u8]) -> Result<()> {
    match reply {
        b"OK\0" | b"OK" => Ok(()),
        _ => Err(DecodeError::Malformed {
            op,
            why: "expected OK",
        }
        .into()),
    }
}

pub(crate) fn parse_string(op: Op, reply: &[u8]) -> Result<String> {
    let body = reply.strip_suffix(b"\0").unwrap_or(reply);
    String::from_utf8(body.to_vec()).map_err(|_| {
        DecodeError::Malformed {
            op,
            why: "reply is not UTF-8",
        }
        .into()
    })
}

fn parse_perms(reply: &[u8]) -> Result<Vec<Perm>> {
    wire::split_strings(Op::GetPerms, reply)?
        .iter()
        .map(|s| {
            s.parse().map_err(|_| {
                DecodeError::Malformed {
                    op: Op::GetPerms,
                    why: "bad permission entry",
                }
                .into()
            })
        })
        .collect()
}

pub(crate) fn parse_decimal(op: Op, reply: &[u8]) -> Result<u32> {
    parse_string(op, reply)?.parse().map_err(|_| {
        DecodeError::Malformed {
            op,
            why: "expected a decimal number",
        }
        .into()
    })
}

/// The node operations. Implemented by [`crate::Client`] and [`crate::Transaction`].
pub trait Ops {
    /// Sends one request; `parts` are concatenated into the payload.
    fn request(&self, op: Op, parts: &[&[u8]], subject: &str) -> Result<Vec<u8>>;

    /// Sends the same single-path request (`XS_READ`, `XS_DIRECTORY`, `XS_GET_PERMS`) for
    /// many paths; connections pipeline them. Results are raw reply payloads, in order.
    fn pipelined(&self, op: Op, paths: &[String]) -> Vec<Result<Vec<u8>>> {
        paths
            .iter()
            .map(|p| {
                path::check(p, false)?;
                self.request(op, &[p.as_bytes(), b"\0"], p)
            })
            .collect()
    }

    /// [`Ops::read`] for many paths in few round trips.
    fn read_many(&self, paths: &[String]) -> Vec<Result<Vec<u8>>> {
        self.pipelined(Op::Read, paths)
    }

    /// [`Ops::directory`] for many paths in few round trips.
    fn directory_many(&self, paths: &[String]) -> Vec<Result<Vec<String>>> {
        let replies = self.pipelined(Op::Directory, paths);
        replies
            .into_iter()
            .zip(paths)
            .map(|(r, p)| match r {
                Ok(reply) => Ok(wire::split_strings(Op::Directory, &reply)?),
                Err(e) if e.errno() == Some(XsErrno::E2BIG) => directory_in_parts(self, p),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// [`Ops::get_perms`] for many paths in few round trips.
    fn get_perms_many(&self, paths: &[String]) -> Vec<Result<Vec<Perm>>> {
        self.pipelined(Op::GetPerms, paths)
            .into_iter()
            .map(|r| r.and_then(|reply| parse_perms(&reply)))
            .collect()
    }

    /// Reads a node's value (any bytes).
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        path::check(path, false)?;
        self.request(Op::Read, &[path.as_bytes(), b"\0"], path)
    }

    /// Reads a node, `None` if it does not exist.
    fn try_read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.read(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the node exists (the C tools' `xenstore-exists` test).
    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.try_read(path)?.is_some())
    }

    /// Writes a value, creating the node and missing parents.
    fn write(&self, path: &str, value: &[u8]) -> Result<()> {
        path::check(path, false)?;
        let reply = self.request(Op::Write, &[path.as_bytes(), b"\0", value], path)?;
        expect_ok(Op::Write, &reply)
    }

    /// Creates a node with an empty value if it does not exist.
    fn mkdir(&self, path: &str) -> Result<()> {
        path::check(path, false)?;
        let reply = self.request(Op::Mkdir, &[path.as_bytes(), b"\0"], path)?;
        expect_ok(Op::Mkdir, &reply)
    }

    /// Removes a node and everything below it.
    fn rm(&self, path: &str) -> Result<()> {
        path::check(path, false)?;
        let reply = self.request(Op::Rm, &[path.as_bytes(), b"\0"], path)?;
        expect_ok(Op::Rm, &reply)
    }

    /// Lists child names. Falls back to `XS_DIRECTORY_PART` when the list exceeds one
    /// payload (E2BIG), like the C library.
    fn directory(&self, path: &str) -> Result<Vec<String>> {
        path::check(path, false)?;
        match self.request(Op::Directory, &[path.as_bytes(), b"\0"], path) {
            Ok(reply) => Ok(wire::split_strings(Op::Directory, &reply)?),
            Err(e) if e.errno() == Some(XsErrno::E2BIG) => directory_in_parts(self, path),
            Err(e) => Err(e),
        }
    }

    /// The node's permissions; the first entry is the owner and default.
    fn get_perms(&self, path: &str) -> Result<Vec<Perm>> {
        path::check(path, true)?;
        let reply = self.request(Op::GetPerms, &[path.as_bytes(), b"\0"], path)?;
        parse_perms(&reply)
    }

    /// Replaces the node's permissions; the first entry becomes owner and default.
    fn set_perms(&self, path: &str, perms: &[Perm]) -> Result<()> {
        path::check(path, true)?;
        if perms.is_empty() {
            return Err(Error::InvalidPerm(String::new()));
        }
        let mut payload = Vec::with_capacity(path.len() + 1 + perms.len() * 6);
        payload.extend_from_slice(path.as_bytes());
        payload.push(0);
        for p in perms {
            payload.extend_from_slice(p.to_string().as_bytes());
            payload.push(0);
        }
        let reply = self.request(Op::SetPerms, &[&payload], path)?;
        expect_ok(Op::SetPerms, &reply)
    }
}

/// `XS_DIRECTORY_PART`: request `path\0offset\0`, reply `generation\0name\0...\0` where an
/// empty name ends the listing. A changed generation means the directory changed: start over.
fn directory_in_parts<O: Ops + ?Sized>(ops: &O, path: &str) -> Result<Vec<String>> {
    'restart: for _ in 0..16 {
        let mut names: Vec<String> = Vec::new();
        let mut generation: Option<String> = None;
        let mut offset = 0usize;
        loop {
            let off = offset.to_string();
            let reply = ops.request(
                Op::DirectoryPart,
                &[path.as_bytes(), b"\0", off.as_bytes(), b"\0"],
                path,
            )?;
            let mut fields = reply.split(|b| *b == 0);
            let gen = fields.next().unwrap_or_default();
            let gen = String::from_utf8_lossy(gen).into_owned();
            if generation.as_ref().is_some_and(|g| *g != gen) {
                continue 'restart;
            }
            generation = Some(gen);
            let rest = &reply[reply
                .iter()
                .position(|b| *b == 0)
                .map_or(reply.len(), |p| p + 1)..];
            // A final part ends with an extra nul after the last name's own.
            let done = rest == b"\0" || rest.ends_with(b"\0\0");
            let body = if done { &rest[..rest.len() - 1] } else { rest };
            let body = match body.strip_suffix(b"\0") {
                Some(b) => b,
                None if body.is_empty() => body,
                None => {
                    return Err(DecodeError::Malformed {
                        op: Op::DirectoryPart,
                        why: "names are not nul-terminated",
                    }
                    .into())
                }
            };
            let mut consumed = 0;
            if !body.is_empty() {
                for name in body.split(|b| *b == 0) {
                    if name.is_empty() {
                        return Err(DecodeError::Malformed {
                            op: Op::DirectoryPart,
                            why: "empty name",
                        }
                        .into());
                    }
                    consumed += name.len() + 1;
                    names.push(String::from_utf8(name.to_vec()).map_err(|_| {
                        DecodeError::Malformed {
                            op: Op::DirectoryPart,
                            why: "name is not UTF-8",
                        }
                    })?);
                }
            }
            if done {
                return Ok(names);
            }
            if consumed == 0 {
                return Err(DecodeError::Malformed {
                    op: Op::DirectoryPart,
                    why: "no progress",
                }
                .into());
            }
            offset += consumed;
        }
    }
    Err(Error::Xenstore {
        op: Op::DirectoryPart,
        path: path.to_string(),
        errno: XsErrno::EAGAIN,
    })
}
