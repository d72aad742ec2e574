//! Consumers that fall behind, through the real binary with each server in its own process:
//! the summary validates against the schema with `consumers[]` per run, the lagging run's
//! server holds more in its kernel send queues than its control's, and the report and chart
//! of the "Consumers that fall behind" section are written.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod bin_support;

const SCENARIO: &str = r#"name = "bp"
description = "50 subscribers, a fifth of them reading 4 KiB/s of a 100 KiB/s feed"
transports = ["raw-tcp", "websocket"]
warmup = "300ms"
duration = "3s"
drain_timeout = "30s"
publishers = 1
subscribers = 50
payload = "1KiB"
rate_per_sec = 100

[[consumers]]
share = [0, 0.2]
behaviour = "slow"
read_bytes_per_sec = "4KiB"
receive_buffer = "16KiB"
"#;

fn run() -> (Value, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = bin_support::run_ok(dir.path(), SCENARIO);
    (summary, out, dir)
}

fn by_name<'a>(summary: &'a Value, transport: &str, share: &str) -> &'a Value {
    summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tags"]["transport"] == transport && r["tags"]["slow_share"] == share)
        .unwrap_or_else(|| panic!("no run {transport} slow_share={share}"))
}

#[test]
fn lagging_consumers_are_measured_on_the_server_and_reported() {
    let (summary, out, _dir) = run();
    let schema: Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json violates its schema: {errors:#?}"
    );
    for transport in ["raw-tcp", "websocket"] {
        let (control, slow) = (
            by_name(&summary, transport, "0"),
            by_name(&summary, transport, "0.2"),
        );
        assert_eq!(slow["status"], "ok", "{:?}", slow["failures"]);
        let classes = slow["consumers"].as_array().unwrap();
        assert_eq!(classes[0]["behaviour"], "full");
        assert_eq!(
            (
                classes[0]["subscribers"].as_u64(),
                classes[1]["subscribers"].as_u64()
            ),
            (Some(40), Some(10))
        );
        assert!(
            classes[1]["max_lag_messages"].as_u64().unwrap() >= 40,
            "{transport}: {}",
            classes[1]
        );
        // ≈290 KB each over 3 s, of which their own receive buffers take ≈32 KB: the rest
        // waits with the server, in its queues or its kernel send queues.
        let held = |r: &Value| {
            let server = &r["resources"]["server"];
            server["send_queue_bytes_peak"].as_u64().unwrap()
                + server["queued_bytes_peak"].as_u64().unwrap_or(0)
        };
        assert!(
            held(slow) > held(control) + 10 * 100_000,
            "{transport}: the slow readers' data should wait with the server: {} vs control {}",
            held(slow),
            held(control)
        );
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Consumers that fall behind"), "{report}");
    assert!(report.contains("push servers pay per-consumer memory"));
    // The claim is judged for both push servers from what they held against the backlog:
    // a share is shown and a verdict given (which one, in a 3 s run where part of the backlog
    // sits in the slow readers' own receive buffers, is not this test's to fix).
    for transport in ["raw-tcp", "websocket"] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {transport} | push |")))
            .unwrap_or_else(|| panic!("{transport}'s claim row: {report}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells[5].ends_with('%'), "a held share: {row}");
        assert!(
            cells[6].starts_with("holds") || cells[6].starts_with("does not hold"),
            "judged: {row}"
        );
    }
    let chart = out.join("server-memory-lagging.png");
    assert!(
        std::fs::metadata(&chart).unwrap().len() > 10_000,
        "{}",
        chart.display()
    );
}
