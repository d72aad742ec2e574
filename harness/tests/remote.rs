//! `run --server NAME=HOST:PORT` and `--server-metrics NAME=URL` through the real binary, against
//! a `serve --metrics` the test starts itself (a remote server on localhost): the run starts no
//! server, server figures come from the endpoint (deltas over the run), and without the endpoint
//! they are null with a reason, never zero. Bad values exit 2 naming the flag.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::Duration;

use transport_bench::registry::TransportKind;
use transport_bench::server::{ChildServer, ChildSpec};

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

const SCENARIO: &str = r#"name = "remote"
description = "websocket against a server someone else runs"
transports = ["websocket"]
baseline = false
warmup = "200ms"
duration = "1s"
drain_timeout = "2s"
payload = "100B"
rate_per_sec = 500
publishers = 2
topics = 2
subscribers = [4]
"#;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
    json
}

async fn serve() -> ChildServer {
    let spec = ChildSpec {
        exe: BIN.into(),
        startup_timeout: Duration::from_secs(20),
        ..ChildSpec::new(TransportKind::WebSocket).unwrap()
    };
    ChildServer::start(&spec).await.unwrap()
}

/// Runs the binary with `args` off the runtime (the server under test lives on it) and
/// requires exit 0.
async fn run_ok<const N: usize>(args: [String; N]) {
    let o = tokio::task::spawn_blocking(move || run(&args.each_ref().map(String::as_str)))
        .await
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_server_is_used_not_started_and_read_through_its_endpoint() {
    let server = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("remote.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let (addr, url) = (server.addr().to_string(), server.metrics_url().to_owned());
    let out = dir.path().join("measured");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--server",
        &format!("websocket={addr}"),
        "--server-metrics",
        &format!("websocket={url}"),
    ]
    .map(String::from);
    run_ok(args).await;
    let s = summary(&out);
    let placement = &s["environment"]["placement"];
    assert_eq!(placement["server_mode"], "remote");
    assert_eq!(placement["remote_servers"]["websocket"]["address"], addr);
    let r = &s["runs"][0];
    assert_eq!(r["lost"], 0);
    // Every client connected to the server we started: 4 subscribers and 2 publishers.
    assert_eq!(r["wire"]["server"]["connections"], 6, "{}", r["wire"]);
    // Bytes the server read are the bytes the clients wrote, exactly.
    assert_eq!(
        r["wire"]["server"]["read"].as_u64().unwrap()
            + r["wire"]["server"]["handshake_read"].as_u64().unwrap(),
        r["wire"]["client_to_server_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        r["resources"]["server"]["available"], true,
        "{}",
        r["resources"]
    );
    // The run did not stop someone else's server.
    assert!(server.snapshot(Duration::from_secs(5)).await.is_ok());

    // Without an endpoint: the same run, server figures null with a reason.
    let out = dir.path().join("unmeasured");
    let args = [
        "run",
        scenario.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--server",
        &format!("websocket={addr}"),
    ]
    .map(String::from);
    run_ok(args).await;
    let s = summary(&out);
    let r = &s["runs"][0];
    assert!(
        r["wire"]["server"].is_null(),
        "null, never zero: {}",
        r["wire"]
    );
    let server_res = &r["resources"]["server"];
    assert_eq!(server_res["available"], false);
    assert!(server_res["cpu_user_s"].is_null());
    assert!(
        server_res["unavailable_reason"]
            .as_str()
            .unwrap()
            .contains("--server-metrics"),
        "{server_res}"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn bad_server_values_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("remote.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let s = scenario.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--server", "websocket"], "not NAME=VALUE"),
        (&["--server", "carrier-pigeon=h:1"], "unknown transport"),
        (&["--server", "websocket=host"], "no port"),
        (&["--server", "websocket=host:0"], "1..=65535"),
        (&["--server", "long-poll=h:1"], "has no long-poll transport"),
        (
            &["--server", "websocket=h:1", "--server", "websocket=h:2"],
            "given twice",
        ),
        (
            &["--server-metrics", "websocket=http://h:1/metrics"],
            "no remote websocket server",
        ),
        (
            &[
                "--server",
                "websocket=h:1",
                "--server-metrics",
                "websocket=https://h:1/m",
            ],
            "only http://",
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["run", s, "-q", "--out", o];
        args.extend_from_slice(extra);
        let r = run(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(expect), "{extra:?}: {err}");
    }
    assert!(!out.join("summary.json").exists());
}

#[test]
fn a_scenario_names_its_remote_server_with_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.toml");
    let with = |table: &str| {
        std::fs::write(&path, format!("{SCENARIO}\n{table}\n")).unwrap();
        transport_bench::scenario::load(&path)
    };
    let s = with("[transport.websocket]\naddress = \"10.1.2.3:8080\"").unwrap();
    assert_eq!(s.addresses[&TransportKind::WebSocket], "10.1.2.3:8080");
    // The key is the harness's: the transport's own options never see it.
    assert!(!s.transport_options[&TransportKind::WebSocket].contains_key("address"));
    let e = format!(
        "{:#}",
        with("[transport.websocket]\naddress = \"nohost\"").unwrap_err()
    );
    assert!(e.contains("no port") && e.contains(":"), "{e}");
    let e = format!(
        "{:#}",
        with("[transport.pull-log]\naddress = \"h:1\"").unwrap_err()
    );
    assert!(e.contains("bootstrap"), "{e}");
}
