//! Running the real `transport-bench` binary on a scenario written by a test.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

/// Writes scenario `text` into `dir`, runs it quietly with results in `dir/out`, expects exit 0,
/// and returns the results folder and its `summary.json`.
pub fn run_ok(dir: &Path, text: &str) -> (PathBuf, serde_json::Value) {
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    let o = Command::new(BIN)
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    (out, summary)
}

/// Checks that `run`'s server-side bytes are the mirror of its clients' counts and marked so:
/// what a server we did not write reports (its sockets are not ours to count).
pub fn assert_mirrored_server(run: &serde_json::Value) {
    let wire = &run["wire"];
    assert_eq!(wire["server_mirrored"], true, "{wire}");
    for (server, client) in [
        ("read", "written"),
        ("written", "read"),
        ("handshake_read", "handshake_written"),
        ("handshake_written", "handshake_read"),
        ("connections", "connections"),
    ] {
        assert_eq!(
            wire["server"][server], wire["client"][client],
            "{server}: {wire}"
        );
    }
}
