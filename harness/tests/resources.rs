//! Server placement through the real binary: the default runs each server as a child process,
//! measures its CPU and memory in that process, and leaves no server process behind; an
//! in-process server reports its resources as unavailable (null), never as zero.

#![allow(clippy::unwrap_used)]

use std::path::Path;

mod bin_support;
use bin_support::BIN;

const SCENARIO: &str = r#"name = "placement"
description = "200 subscribers, two seconds, server in its own process"
transports = ["raw-tcp", "websocket"]
warmup = "200ms"
duration = "2s"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = 1000
subscribers = 200
"#;

fn run(dir: &Path, text: &str) -> serde_json::Value {
    bin_support::run_ok(dir, text).1
}

/// `transport-bench serve` processes whose parent is gone (re-parented to init).
fn orphaned_servers() -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let is_server =
            cmdline.starts_with(BIN.as_bytes()) && cmdline.windows(7).any(|w| w == b"\0serve\0");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1));
        if is_server && ppid == Some("1") {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_server_in_its_own_process_is_measured_there_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(dir.path(), SCENARIO);
    assert_eq!(
        summary["environment"]["placement"]["server_mode"],
        "process"
    );
    for r in summary["runs"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        assert_eq!(r["lost"], 0, "{name}");
        let server = &r["resources"]["server"];
        assert_eq!(server["available"], true, "{name}: {server}");
        let cpu = server["cpu_ns_per_delivered"].as_f64().unwrap();
        assert!(cpu > 0.0, "{name}: server CPU per message {cpu}");
        let per_sub = server["rss_bytes_per_subscriber"].as_f64().unwrap();
        assert!(
            per_sub > 0.0,
            "{name}: server bytes per subscriber {per_sub}"
        );
        assert!(
            server["open_fds"].as_u64().unwrap() >= 200,
            "{name}: {server}"
        );
        let load = &r["resources"]["load"];
        assert_eq!(load["available"], true, "{name}: {load}");
        assert!(
            load["cpu_ns_per_delivered"].as_f64().unwrap() > 0.0,
            "{name}"
        );
        assert_per_second_resources(name, r, true);
        // Server-side bytes came back from the child: what it wrote is what clients read.
        assert!(
            r["wire"]["server_to_client_bytes"].as_u64().unwrap() > 0,
            "{name}"
        );
    }
    assert_eq!(
        orphaned_servers(),
        Vec::<u32>::new(),
        "server processes left behind"
    );
}

#[test]
fn an_in_process_server_reports_its_resources_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let text = SCENARIO.replace("subscribers = 200", "subscribers = 2")
        + "[server]\nmode = \"in-process\"\n";
    let summary = run(dir.path(), &text);
    for r in summary["runs"].as_array().unwrap() {
        let server = &r["resources"]["server"];
        assert_eq!(server["available"], false, "{server}");
        assert!(server["cpu_ns_per_delivered"].is_null(), "{server}");
        assert!(server["rss_bytes_per_subscriber"].is_null(), "{server}");
        assert!(
            server["unavailable_reason"]
                .as_str()
                .unwrap()
                .contains("in-process")
        );
        assert_eq!(r["resources"]["load"]["available"], true);
        assert_per_second_resources(r["name"].as_str().unwrap(), r, false);
    }
}

/// Every second of the 2 s window has the load generator's CPU and memory, and the server's
/// when it runs in its own process (null otherwise); CPU was spent while messages flowed.
/// Seconds after the window (deliveries during the drain) are not sampled.
fn assert_per_second_resources(name: &str, run: &serde_json::Value, server_measured: bool) {
    let points = run["timeseries"].as_array().unwrap();
    assert!(points.len() >= 2, "{name}: {points:?}");
    let mut server_cpu = 0.0;
    for p in &points[..2] {
        assert!(p["load_cpu_s"].as_f64().is_some(), "{name}: {p}");
        assert!(p["load_rss_bytes"].as_u64().unwrap() > 0, "{name}: {p}");
        if server_measured {
            server_cpu += p["server_cpu_s"].as_f64().unwrap();
            assert!(p["server_rss_bytes"].as_u64().unwrap() > 0, "{name}: {p}");
        } else {
            assert!(p["server_cpu_s"].is_null(), "{name}: {p}");
            assert!(p["server_rss_bytes"].is_null(), "{name}: {p}");
        }
    }
    assert!(
        !server_measured || server_cpu > 0.0,
        "{name}: no server CPU in the window"
    );
}
