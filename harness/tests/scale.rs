//! Scale through the real binary: 2,000 subscribers per transport, each server in its own
//! process, connect concurrently, receive every message (0 lost), and report what the server
//! paid per connected subscriber, websocket's no more than twice the others'. Bounded: a low delivery rate and a 2 s window keep it within
//! CI's budget even in a debug build.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

const SCENARIO: &str = r#"name = "scale-2000"
description = "2,000 subscribers per transport, 2,000 deliveries per second in total"
transports = ["raw-tcp", "long-poll", "websocket", "pull-log", "sse"]
warmup = "500ms"
duration = "2s"
drain_timeout = "20s"
payload = "100B"
deliveries_per_sec = 2000
subscribers = 2000
allow_loss = false
"#;

#[test]
fn two_thousand_subscribers_per_transport_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scale.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let o = Command::new("timeout")
        .args(["600", BIN, "run"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    for r in runs {
        let name = r["transport"].as_str().unwrap();
        assert_eq!(r["status"], "ok", "{name}: {}", r["failures"]);
        assert_eq!(r["lost"], 0, "{name}");
        assert_eq!(r["subscribers"], 2000, "{name}");
        let published = r["published"].as_u64().unwrap();
        assert!(published > 0, "{name}");
        assert_eq!(r["delivered"].as_u64().unwrap(), published * 2000, "{name}");
        assert!(r["setup_secs"].as_f64().unwrap() > 0.0, "{name}");
        let server = &r["resources"]["server"];
        assert!(
            server["rss_bytes_per_subscriber"].as_f64().unwrap() > 0.0,
            "{name}: {server}"
        );
        assert!(
            server["open_fds"].as_u64().unwrap() >= 2000,
            "{name}: {server}"
        );
    }
    // Memory per connection is the pattern's, not a library default: websocket's server once
    // held tungstenite's 128 KiB read buffer per subscriber, 10× the others.
    let per_sub = |r: &serde_json::Value| {
        r["resources"]["server"]["rss_bytes_per_subscriber"]
            .as_f64()
            .unwrap()
    };
    let mut others: Vec<f64> = runs
        .iter()
        .filter(|r| r["transport"] != "websocket")
        .map(per_sub)
        .collect();
    others.sort_by(f64::total_cmp);
    let median = (others[1] + others[2]) / 2.0;
    let ws = per_sub(runs.iter().find(|r| r["transport"] == "websocket").unwrap());
    assert!(
        ws <= 2.0 * median,
        "websocket server holds {ws:.0} B per subscriber, the others' median {median:.0} B"
    );
}
