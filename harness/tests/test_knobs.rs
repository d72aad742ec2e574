//! The regression gate's plants work in a `test-knobs` build (`cargo test -p transport-bench
//! --features test-knobs --test test_knobs`; `.ci/run` runs it): padding adds exactly its bytes
//! to every message's overhead, and the CPU plant makes the named server spend at least what it
//! burns per delivered message. Without the feature this file compiles to nothing, which is the
//! other half of the contract: a normal build has no knob to turn.
#![cfg(feature = "test-knobs")]
#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

const SCENARIO: &str = r#"name = "knobs"
description = "raw-tcp and websocket, 200 msg/s, 1 subscriber"
transports = ["raw-tcp", "websocket"]
warmup = "200ms"
duration = "1s"
drain_timeout = "5s"
payload = "100B"
rate_per_sec = 200
"#;

/// Runs the scenario with `env` set and returns the summary of `transport`'s run.
fn run_with(transport: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("knobs.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let o = Command::new("timeout")
        .arg("120")
        .arg(BIN)
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&scenario)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    let run = runs.iter().find(|r| r["transport"] == transport);
    run.unwrap_or_else(|| panic!("no {transport} run in {summary}"))
        .clone()
}

#[test]
fn padding_adds_exactly_its_bytes_to_each_message() {
    let plain = run_with("raw-tcp", &[]);
    let padded = run_with("raw-tcp", &[("TRANSPORT_BENCH_TEST_PAD_BYTES", "50")]);
    let overhead = |r: &serde_json::Value| r["wire"]["overhead_s2c_bytes_per_delivered"].as_f64();
    let (a, b) = (overhead(&plain).unwrap(), overhead(&padded).unwrap());
    // raw-tcp's framing is a length prefix per message plus rare sync frames: the difference
    // is the 50 bytes, give or take a fraction of a sync frame per message.
    assert!(
        (b - a - 50.0).abs() < 1.0,
        "overhead per delivered message {a} -> {b}"
    );
}

#[test]
fn the_cpu_plant_shows_in_the_servers_cpu_per_message() {
    // 300 µs of thread CPU per delivered message: far above what the server spends itself,
    // and CPU time, so it holds however loaded the machine is.
    let planted = run_with(
        "websocket",
        &[("TRANSPORT_BENCH_TEST_SPIN_NS", "websocket:300000")],
    );
    let server = &planted["resources"]["server"];
    assert_eq!(server["available"], true, "{server}");
    let ns = server["cpu_ns_per_delivered"].as_f64().unwrap();
    assert!(ns >= 300_000.0, "server CPU per delivered message {ns} ns");
}
