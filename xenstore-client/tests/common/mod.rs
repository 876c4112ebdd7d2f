//! Helpers shared by the integration tests: a test xenstored plus ways to run the Debian C
//! clients and our `xs` binary against it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Command, Output};

use xenstore_client::Client;
use xenstore_testd::TestServer;

pub fn server() -> TestServer {
    TestServer::start().expect("start test xenstored")
}

pub fn client(s: &TestServer) -> Client {
    Client::open_path(s.socket_path()).expect("connect to test xenstored")
}

/// Runs a Debian xenstore-utils tool (`xenstore-read`, ...) against the server.
pub fn c_tool(s: &TestServer, tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .env("XENSTORED_PATH", s.socket_path())
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (install xenstore-utils: scripts/setup-debian.sh)"))
}

pub fn c_ok(s: &TestServer, tool: &str, args: &[&str]) -> Vec<u8> {
    let out = c_tool(s, tool, args);
    assert!(
        out.status.success(),
        "{tool} {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs our `xs` binary against the server.
pub fn xs(s: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xs"))
        .args(args)
        .env("XENSTORED_PATH", s.socket_path())
        .output()
        .expect("run xs")
}

/// Parses `xenstore-ls -f [-p]` output into path -> (escaped value, perms text).
pub fn parse_c_ls(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (path, rest) = line
            .split_once(" = \"")
            .unwrap_or_else(|| panic!("unexpected xenstore-ls line {line:?}"));
        let (value, tail) = rest.rsplit_once('"').expect("closing quote");
        let perms = tail
            .rsplit_once('(')
            .map(|(_, p)| p.trim_end_matches(')').to_string())
            .unwrap_or_default();
        out.insert(path.to_string(), (value.to_string(), perms));
    }
    out
}
