//! One line per check on the VM's serial console: `QXK-E2E-RESULT {json}`.
//!
//! The serial log is the only channel that survives a hung or crashed guest, so
//! results travel there, each as one self-contained JSON line that the host finds
//! by its marker wherever the line starts (kernel or Xen output may precede it).

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Instant;

/// Prefix of a result line.
pub const RESULT_MARKER: &str = "QXK-E2E-RESULT ";
/// Printed by dom0's init once every check ran; its absence means the run was cut short.
pub const DONE_MARKER: &str = "QXK-E2E-DONE";

/// The outcome of one check, as the program inside the VM saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable name, e.g. `xen-sys/version`; the host test of the same name looks for it.
    pub check: String,
    pub ok: bool,
    /// What was observed (on success) or what went wrong (on failure).
    pub detail: String,
    /// Wall time the check took inside the VM.
    pub ms: u64,
    /// Values other checks cross-examine, e.g. the domid a domU read for itself.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl CheckResult {
    /// The line to print, marker included, no trailing newline.
    pub fn to_line(&self) -> String {
        // Serializing a struct of strings, numbers and a Value cannot fail.
        let json = serde_json::to_string(self).expect("CheckResult serializes");
        format!("{RESULT_MARKER}{json}")
    }

    /// Finds a result in one console line; `None` if the line carries no marker.
    /// A marker followed by garbage is an error: the result was garbled in transit.
    pub fn parse_line(line: &str) -> Option<Result<CheckResult, serde_json::Error>> {
        let at = line.find(RESULT_MARKER)?;
        let json = line[at + RESULT_MARKER.len()..].trim_end_matches(['\r', '\n', ' ']);
        Some(serde_json::from_str(json))
    }
}

/// Runs checks inside the VM and prints each result as soon as it is known, so a
/// later hang still leaves the earlier results on the serial log.
#[derive(Default)]
pub struct Reporter {
    results: Vec<CheckResult>,
}

impl Reporter {
    pub fn new() -> Reporter {
        Reporter::default()
    }

    /// Runs `f` as check `name`; `Ok(detail)` passes, `Err` fails with its chain.
    pub fn run<F>(&mut self, name: &str, f: F) -> bool
    where
        F: FnOnce() -> anyhow::Result<String>,
    {
        self.run_with_data(name, || f().map(|d| (d, serde_json::Value::Null)))
    }

    /// Like [`Reporter::run`], with data for cross-checks.
    pub fn run_with_data<F>(&mut self, name: &str, f: F) -> bool
    where
        F: FnOnce() -> anyhow::Result<(String, serde_json::Value)>,
    {
        let start = Instant::now();
        let outcome = f();
        let ms = start.elapsed().as_millis() as u64;
        let result = match outcome {
            Ok((detail, data)) => CheckResult {
                check: name.to_string(),
                ok: true,
                detail,
                ms,
                data,
            },
            Err(e) => CheckResult {
                check: name.to_string(),
                ok: false,
                detail: format!("{e:#}"),
                ms,
                data: serde_json::Value::Null,
            },
        };
        let ok = result.ok;
        self.emit(result);
        ok
    }

    /// Prints a result that was produced elsewhere (e.g. forwarded from a domU).
    pub fn emit(&mut self, result: CheckResult) {
        let mut out = std::io::stdout().lock();
        // The console is the report; if it is gone there is nobody to tell.
        let _ = writeln!(out, "{}", result.to_line());
        let _ = out.flush();
        self.results.push(result);
    }

    pub fn results(&self) -> &[CheckResult] {
        &self.results
    }

    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| !r.ok).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips_behind_console_noise() {
        let r = CheckResult {
            check: "domu/watch".into(),
            ok: false,
            detail: "no event for \"data/qxk/ping\"\nafter 30 s".into(),
            ms: 30001,
            data: serde_json::json!({"domid": 1}),
        };
        let line = format!("[   12.345] {}\r", r.to_line());
        assert_eq!(CheckResult::parse_line(&line).unwrap().unwrap(), r);
    }

    #[test]
    fn garbled_and_unmarked_lines_are_told_apart() {
        assert!(CheckResult::parse_line("(XEN) Xen version 4.17").is_none());
        let garbled = format!("{}{{\"check\":\"x\",\"ok\":tr(XEN) ue}}", RESULT_MARKER);
        assert!(CheckResult::parse_line(&garbled).unwrap().is_err());
    }
}
