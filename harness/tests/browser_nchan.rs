//! Browser subscribers on nginx + Nchan, end to end through the real binary: a headless Chromium
//! page subscribes with a `fetch` loop of Nchan long polls, `EventSource` and `WebSocket` on
//! the managed nginx's subscriber location; every message is audited and timed, the browser's
//! wire bytes are counted by the kernel (nginx counts none for us), the report compares each
//! browser run with its Rust-client twin, and neither nginx nor Chromium outlives the run.
//!
//! Needs nginx with the Nchan module and Chromium (`scripts/install-peers.sh`); without either,
//! one SKIPPED line, or a failure under `TRANSPORT_BENCH_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use transport_test_support::peers::{CHROMIUM, NCHAN, present};

/// Bound on the whole CLI run: three nginx starts, six runs of 2.5 s, one browser per
/// browser run, drains.
const RUN_BOUND: Duration = Duration::from_secs(300);
/// Bound on processes of a finished run disappearing (a killed process is gone once reaped).
const GONE_BOUND: Duration = Duration::from_secs(10);
const PAYLOAD: u64 = 64;

/// Three Nchan transports, two subscribers each, Rust then browser.
///
/// The rate is low because a page's long poll takes one `fetch` per message from Nchan, and
/// Chromium's fetch round trip on a busy 2-core machine is several milliseconds: at 200 msg/s
/// the page falls seconds behind (`scenarios/browser-nchan.toml` measures that).
const SCENARIO: &str = r#"
name = "browser-nchan-test"
description = "browser subscribers on the three Nchan transports"
transports = ["nchan-long-poll", "nchan-sse", "nchan-websocket"]
baseline = false
duration = "2s"
warmup = "500ms"
drain_timeout = "10s"
rate_per_sec = 50
payload = "64B"
subscribers = 2
[browser]
subscribers = 2
"#;

/// This process's session: processes a run of ours started stay in it.
fn session_of(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command: state, ppid, pgrp, session.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    (fields.first() != Some(&"Z")).then(|| fields.get(3).map(|s| (*s).to_owned()))?
}

/// Live (not zombie) processes of our session named `nginx` or `chromium`.
fn ours_running() -> Vec<(u32, String)> {
    let me = session_of("self").unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if (comm == "nginx" || comm == "chromium") && session_of(&name).as_ref() == Some(&me) {
            found.push((pid, comm.to_owned()));
        }
    }
    found
}

/// Runs the binary on `scenario` within [`RUN_BOUND`]; returns its stderr and success.
fn run_cli(scenario: &std::path::Path, out: &std::path::Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_transport-bench"))
        .args(["run", scenario.to_str().unwrap(), "--quiet", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + RUN_BOUND;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the CLI run did not finish within {RUN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    (status.success(), stderr)
}

/// One browser run: every message to both subscribers, timed, bytes counted by the kernel.
fn check_browser_run(run: &serde_json::Value) {
    let name = &run["name"];
    assert_eq!(run["status"], "ok", "{name}: {}", run["failures"]);
    let published = run["published"].as_u64().unwrap();
    assert!(published >= 100, "{name}: published {published}");
    assert_eq!(run["lost"], 0, "{name}");
    assert_eq!(run["duplicated"], 0, "{name}");
    let delivered = run["delivered"].as_u64().unwrap();
    assert_eq!(delivered, 2 * published, "{name}: both subscribers got all");
    let p50 = run["latency_ns"]["p50"].as_u64().unwrap();
    assert!(p50 > 0 && p50 < 1_000_000_000, "{name}: p50 {p50}");
    let browser = &run["browser"];
    assert_eq!(browser["subscriber_wire_counted_at"], "kernel", "{browser}");
    let sub = &run["wire"]["subscriber"];
    // Each subscriber's copies crossed its connections, with their framing on top.
    assert!(
        sub["read"].as_u64().unwrap() > delivered * PAYLOAD,
        "{name}: {sub}"
    );
    assert!(sub["connections"].as_u64().unwrap() >= 1, "{name}: {sub}");
    assert!(sub["handshake_read"].as_u64().unwrap() > 0, "{name}: {sub}");
    assert!(
        run["wire"]["server"].is_null(),
        "{name}: nginx counts nothing"
    );
}

#[test]
fn browsers_subscribe_to_each_nchan_transport_and_leave_nothing_behind() {
    if !present(&NCHAN) || !present(&CHROMIUM) {
        return;
    }
    let before = ours_running();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("browser-nchan.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let (ok, stderr) = run_cli(&scenario, &out);
    assert!(ok, "{stderr}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let runs = summary["runs"].as_array().unwrap();
    let browser: Vec<&serde_json::Value> = runs
        .iter()
        .filter(|r| r["tags"]["client"] == "browser")
        .collect();
    let transports: Vec<&str> = browser
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    assert_eq!(
        transports,
        ["nchan-long-poll", "nchan-sse", "nchan-websocket"],
        "one browser run per Nchan transport"
    );
    for r in browser {
        check_browser_run(r);
    }
    let report = read("report.md");
    assert!(report.contains("## Browser vs Rust client"), "{report}");
    for t in ["nchan-long-poll", "nchan-sse", "nchan-websocket"] {
        assert!(report.contains(&format!("| {t} | 2 |")), "{report}");
    }
    let deadline = Instant::now() + GONE_BOUND;
    let mut left: Vec<(u32, String)>;
    loop {
        left = ours_running()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(left.is_empty(), "processes left after the run: {left:?}");
}
