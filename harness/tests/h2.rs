//! HTTP/2 for long-poll and sse end to end through the real binary: a `deployed.toml`-like
//! matrix (http 1.1 and 2, TLS off and on) with a child server, every run valid and tagged, h2
//! agreed by ALPN under TLS, the stream count in the effective scenario; and bad `http` values
//! refused with exit 2, `file:line:col`, the field and the allowed values.

#![allow(clippy::unwrap_used)]

use std::process::Command;

mod bin_support;
use bin_support::BIN;

const SCENARIO: &str = r#"name = "h2"
description = "long-poll and sse over HTTP/1.1 and HTTP/2, TLS off and on"
transports = ["long-poll", "sse"]
baseline = false
warmup = "100ms"
duration = "500ms"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = [250, 500]
subscribers = 3

[server]
mode = "process"

[tls]
enabled = [false, true]

[transport.long-poll]
http = ["1.1", "2"]

[transport.sse]
http = ["1.1", "2"]
streams_per_connection = 2
"#;

#[test]
fn long_poll_and_sse_run_over_h2_and_h2c_in_a_child_server() {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = bin_support::run_ok(dir.path(), SCENARIO);
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        16,
        "2 transports x 2 rates x http 1.1|2 x tls off|on"
    );
    for r in runs {
        let tags = &r["tags"];
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        let (http, tls) = (
            tags["http"].as_str().unwrap(),
            tags["tls"].as_str().unwrap(),
        );
        if tls == "on" {
            // Our HTTP/1.1 clients offer no ALPN; HTTP/2 clients offer h2 and get it.
            let alpn = &r["tls"]["alpn"];
            match http {
                "2" => assert_eq!(alpn, "h2", "{r}"),
                _ => assert!(alpn.is_null(), "{r}"),
            }
        }
    }
    let effective = &summary["scenario"]["effective"];
    assert_eq!(
        effective["http"]["long-poll"],
        serde_json::json!(["1.1", "2"])
    );
    let options = &effective["transport_options"];
    assert_eq!(options["long-poll"]["streams_per_connection"], 100);
    assert_eq!(options["sse"]["streams_per_connection"], 2);
    assert_eq!(options["sse"]["http"], serde_json::json!(["1.1", "2"]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## HTTP/2: headers per message"),
        "{report}"
    );
    assert!(report.contains("long polling pays"), "{report}");
    assert!(
        report.contains("| verdict | over HTTP/2 + TLS |"),
        "{report}"
    );
}

/// Validates a scenario whose `[transport.<t>]` holds `line`; expects exit 2 and `expect`.
fn refused(transport: &str, line: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = format!(
        "name = \"bad\"\ndescription = \"d\"\nduration = \"1s\"\ntransports = [\"{transport}\"]\n\n[transport.{transport}]\n{line}\n"
    );
    std::fs::write(&path, text).unwrap();
    let o = Command::new(BIN)
        .args(["validate", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{line}: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{line}: expected `{e}` in: {stderr}");
    }
}

#[test]
fn bad_http_versions_exit_2_naming_the_field_and_the_allowed_values() {
    let allowed = r#"allowed values: "1.1" or "2""#;
    refused(
        "long-poll",
        r#"http = "3""#,
        &["bad.toml:7:8", "http", allowed],
    );
    refused("sse", r#"http = "3""#, &["bad.toml:7:8", "http", allowed]);
    refused(
        "long-poll",
        r#"http = ["1.1", "3"]"#,
        &["bad.toml:7:16", "http", allowed],
    );
    refused(
        "sse",
        "http = []",
        &["bad.toml:7:8", "http", "allowed values"],
    );
    refused(
        "long-poll",
        "http = \"2\"\nconnection = \"per-request\"",
        &["bad.toml:8", "per-request", r#"http = "1.1""#],
    );
    refused(
        "websocket",
        r#"http = ["1.1", "2"]"#,
        &["bad.toml:7", "unknown key `http`"],
    );
}

/// Runs one in-process cell of `transport` over HTTP/2 with 20 subscribers and `extra` (a
/// consumer class or a fault); returns its result.
fn run_h2_cell(transport: &str, extra: &str) -> transport_bench::results::RunResult {
    use transport_bench::runner::{self, Progress};
    let text = format!(
        "name = \"t\"\ndescription = \"test\"\ntransports = [\"{transport}\"]\nbaseline = false\n\
         warmup = \"300ms\"\nduration = \"2s\"\ndrain_timeout = \"20s\"\npayload = \"1KiB\"\n\
         rate_per_sec = 200\nsubscribers = 20\n[server]\nmode = \"in-process\"\n\
         [transport.{transport}]\nhttp = \"2\"\nstreams_per_connection = 8\n{extra}\n"
    );
    let s = transport_bench::scenario::load_str(&text, std::path::Path::new("t.toml")).unwrap();
    let spec = s.expand().remove(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let progress = Progress::new(true);
    let ctx = runner::RunCtx::new(&s, &spec, "h2", &progress);
    rt.block_on(runner::run_cell(&ctx)).result
}

/// Gated subscribers (a consumer class offline for a while, a churn fault cutting sockets)
/// have HTTP/2 connections of their own and resume as over HTTP/1.1: nothing lost.
#[test]
fn consumer_gates_and_churn_cuts_keep_working_over_h2() {
    let offline =
        "[[consumers]]\nshare = 0.1\nbehaviour = \"offline\"\nat = \"500ms\"\nfor = \"700ms\"";
    let churn =
        "[[faults]]\nat = \"500ms\"\nkind = \"churn\"\nshare_per_sec = 0.5\nduration = \"1s\"";
    for transport in ["long-poll", "sse"] {
        for extra in [offline, churn] {
            let r = run_h2_cell(transport, extra);
            assert_eq!(
                (r.status.as_str(), r.delivery.lost, r.delivery.duplicated),
                ("ok", 0, 0),
                "{transport} {extra}: {:?}",
                r.failures
            );
        }
    }
}
