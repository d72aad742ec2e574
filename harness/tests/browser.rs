//! Browser subscribers end to end: a headless Chromium page subscribes to a real server of each
//! web transport (long-poll `fetch` loop, `EventSource`, `WebSocket`) through the real runner,
//! and every message it should get is audited and timed. Also: a browser scenario without
//! Chromium exits 2 naming the package, and `[browser]` is validated with located errors.
//!
//! The browser runs need Debian's `chromium` (`scripts/install-peers.sh` installs it); without it
//! each prints one skip line, or fails under `TRANSPORT_BENCH_REQUIRE_PEERS=1`. Each run is bounded by the runner's own
//! phase bounds plus a test deadline.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use transport_bench::runner::{self, Progress};
use transport_bench::scenario::{self, Client};
use transport_test_support::peers;

/// Bound on one browser run (Chromium start, connect, 2 s of load, drain, close).
const RUN_BOUND: Duration = Duration::from_secs(90);

fn scenario_text(transport: &str, extra: &str) -> String {
    format!(
        r#"
name = "browser-test"
description = "browser subscribers against a real server"
transports = ["{transport}"]
baseline = false
duration = "2s"
warmup = "500ms"
rate_per_sec = 200
payload = "64B"
[server]
mode = "in-process"
[browser]
subscribers = 2
{extra}
"#
    )
}

fn run_browser_cell(transport: &str, extra: &str) -> transport_bench::results::RunResult {
    let text = scenario_text(transport, extra);
    let s = scenario::load_str(&text, Path::new("browser.toml")).unwrap();
    let spec = s
        .expand()
        .into_iter()
        .find(|r| r.client == Client::Browser)
        .expect("a browser cell");
    assert_eq!(spec.tags.get("client").map(String::as_str), Some("browser"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cell = rt.block_on(async {
        tokio::time::timeout(
            RUN_BOUND,
            runner::run_cell(&runner::RunCtx::new(
                &s,
                &spec,
                "browsertest",
                &Progress::new(true),
            )),
        )
        .await
        .expect("browser run finished within its bound")
    });
    cell.result
}

fn assert_delivered_and_timed(r: &transport_bench::results::RunResult) {
    assert!(r.failures.is_empty(), "{}: {:?}", r.name, r.failures);
    assert_eq!(r.delivery.lost, 0, "{}", r.name);
    assert_eq!(r.delivery.duplicated, 0, "{}", r.name);
    assert!(
        r.delivery.published >= 300,
        "{}: published {}",
        r.name,
        r.delivery.published
    );
    assert_eq!(
        r.delivery.delivered,
        2 * r.delivery.published,
        "{}: both subscribers got everything",
        r.name
    );
    assert!(
        r.latency.latency_ns.count > 0,
        "{}: latencies recorded",
        r.name
    );
    // Loopback delivery into a page: above zero, far below a second.
    assert!(
        r.latency.latency_ns.p50 > 0 && r.latency.latency_ns.p50 < 1_000_000_000,
        "{}",
        r.name
    );
    let b = r.browser.as_ref().expect("browser block");
    assert!(
        b.chromium.as_deref().is_some_and(|v| v.contains('/')),
        "{b:?}"
    );
    let res = b.timer_resolution_ns.expect("timer resolution measured");
    assert!(res > 0 && res <= 1_000_000, "resolution {res} ns");
    assert!(b.clock_uncertainty_ns.is_some_and(|u| u >= res), "{b:?}");
    assert_eq!(b.subscriber_wire_counted_at, "server");
    // Subscriber bytes derived from the server's: at least the payload delivered.
    assert!(
        r.traffic.wire.subscriber.read >= r.delivery.delivered * 64,
        "{:?}",
        r.traffic.wire.subscriber
    );
}

#[test]
fn long_poll_fetch_loop_in_the_browser_loses_nothing() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    let r = run_browser_cell(
        "long-poll",
        "[transport.long-poll]\nencoding = \"json\"\nhold_timeout = \"5s\"",
    );
    assert_delivered_and_timed(&r);
}

#[test]
fn websocket_in_the_browser_loses_nothing() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    assert_delivered_and_timed(&run_browser_cell("websocket", ""));
}

#[test]
fn event_source_in_the_browser_loses_nothing() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    assert_delivered_and_timed(&run_browser_cell("sse", ""));
}

#[test]
fn browser_table_is_validated_with_locations_and_allowed_values() {
    let bad = scenario_text("raw-tcp", "transports = [\"raw-tcp\"]");
    let err = scenario::load_str(&bad, Path::new("b.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("b.toml:"), "{err}");
    assert!(err.contains("long-poll, websocket, sse"), "{err}");
    let unknown = scenario_text("sse", "tabs = 3");
    let err = scenario::load_str(&unknown, Path::new("b.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("b.toml:") && err.contains("tabs"), "{err}");
    let faults = scenario_text(
        "sse",
        "[[faults]]\nat = \"1s\"\nkind = \"reset-connections\"",
    );
    let err = scenario::load_str(&faults, Path::new("b.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be combined with [[faults]]"), "{err}");
}

#[test]
fn without_chromium_a_browser_scenario_exits_2_naming_the_package() {
    let dir = std::env::temp_dir().join(format!("tb-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("browser.toml");
    std::fs::write(&file, scenario_text("websocket", "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_transport-bench"))
        .args(["run", file.to_str().unwrap(), "--out"])
        .arg(dir.join("out"))
        .env("TRANSPORT_BENCH_CHROMIUM", dir.join("no-such-chromium"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("apt-get install chromium"), "{stderr}");
}

#[test]
fn a_browser_run_through_the_cli_fits_the_schema_and_the_report_compares_it() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tb-browser-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("browser.toml");
    std::fs::write(&file, scenario_text("websocket", "")).unwrap();
    let out_dir = dir.join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_transport-bench"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + RUN_BOUND;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the CLI run did not finish within {RUN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    let report = read("report.md");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status}");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "a Rust run and a browser run");
    assert!(runs[0].get("browser").is_none());
    assert_eq!(runs[1]["tags"]["client"], "browser");
    assert!(report.contains("## Browser vs Rust client"), "{report}");
    assert!(report.contains("| websocket | 2 |"), "{report}");
}
