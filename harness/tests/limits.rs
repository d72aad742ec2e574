//! `limited_by` through the real binary: over a 40 ms link an open loop at 100 msg/s keeps its
//! offered rate (`offered-rate`), and a closed loop with 10 messages in flight can publish at
//! most ~250 msg/s whatever the transport does (`window`). The window is long beside the trip
//! (2 s against 40 ms), so the messages still in flight at its end stay under the 5% that
//! would mark the open loop saturated. Both figures are set by the scenario,
//! not by the machine's load, so the verdicts are deterministic; the other verdicts are the
//! classifier's unit tests (`harness/src/results/limits/tests.rs`).

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

const OVER_A_LINK: &str = r#"name = "limits"
description = "raw-tcp over a 40 ms link: an open loop that keeps up, a closed loop held by its window"
transports = ["raw-tcp"]
warmup = "300ms"
duration = "2s"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = [100, "max"]
max_in_flight = 10

[link]
rtt = "40ms"
"#;

#[test]
fn each_run_says_what_limited_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("limits.toml");
    std::fs::write(&scenario, OVER_A_LINK).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(BIN)
        .args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(&out)
        .arg("-q")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("limited by"), "table: {stdout}");

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema: {errors:#?}");

    let runs = summary["runs"].as_array().unwrap();
    let by_rate = |rate: &str| {
        runs.iter()
            .find(|r| r["tags"]["rate"] == rate)
            .unwrap_or_else(|| panic!("no rate={rate} run"))
    };
    let open = by_rate("100");
    if open["valid"] == true {
        assert_eq!(open["limited_by"], "offered-rate", "{}", open["limits"]);
        assert!(open["limits"]["offered_share"].as_f64().unwrap() >= 0.95);
    } else {
        // A machine too busy for the generator's own wake-ups makes the run invalid: then the
        // verdict must say so rather than credit the offered rate.
        assert_eq!(open["limited_by"], "unknown", "{}", open["limits"]);
        let reason = open["limits"]["reason"].as_str().unwrap();
        assert!(reason.contains("invalid"), "{reason}");
    }

    let closed = by_rate("max");
    let limits = &closed["limits"];
    assert_eq!(closed["limited_by"], "window", "{limits}");
    // 10 in flight over a trip of at least 40 ms: at most 250 msg/s.
    let reach = limits["window_reach_msgs_per_sec"].as_f64().unwrap();
    assert!(reach > 0.0 && reach <= 250.0, "{limits}");
    assert!(
        limits["reason"]
            .as_str()
            .unwrap()
            .contains("closed-loop window")
    );
    // Both processes were measured (the server is a child process) and far from busy.
    for side in ["server_cpu_busy", "load_cpu_busy"] {
        let busy = limits[side].as_f64().unwrap();
        assert!((0.0..0.9).contains(&busy), "{side}: {limits}");
    }
    assert_eq!(
        summary["scenario"]["effective"]["link"]["applies_to"],
        "all"
    );

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("What limited each closed-loop figure: **raw-tcp** window"),
        "{report}"
    );
}
