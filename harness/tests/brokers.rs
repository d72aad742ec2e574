//! The runner with real brokers it does not own the code of: redis-server (`redis-pubsub`,
//! `redis-streams`) and mosquitto (`mqtt`), each started, measured and stopped by `run` with
//! nothing lost and no process left behind; a Redis someone else runs used through `--server`
//! with nothing started (its resources unavailable, saying why); exit 2 naming the Debian
//! package when the program is missing (`PATH` hiding it); bad knobs at file:line:col.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod bin_support;
use transport_test_support::peers::{MOSQUITTO, Peer, REDIS, present};
use transport_test_support::procs::pids_named;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

fn scenario(dir: &Path, transport: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "brokers-test"
description = "one broker transport, one second"
transports = ["{transport}"]
baseline = false
warmup = "300ms"
duration = "1s"
drain_timeout = "5s"
payload = "100B"
rate_per_sec = 500
subscribers = 3
{extra}"#
    );
    let p = dir.join(format!("{transport}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn run(scenario: &Path, out: &Path, path_env: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(out)
        .arg("-q");
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

/// One process-observing test at a time: each compares the broker processes before and after
/// its run, which another test's broker would disturb.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn missing_program_exits_2(transport: &str, package: &str) {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let s = scenario(dir.path(), transport, "");
    let out = run(&s, &dir.path().join("out"), Some(&empty));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(transport) && stderr.contains(&format!("apt-get install -y {package}"))
            || stderr.contains(package),
        "{stderr}"
    );
}

#[test]
fn missing_redis_server_exits_2_naming_the_package() {
    missing_program_exits_2("redis-pubsub", "redis-server");
    missing_program_exits_2("redis-streams", "redis-server");
}

#[test]
fn missing_mosquitto_exits_2_naming_the_package() {
    missing_program_exits_2("mqtt", "mosquitto");
}

/// Runs `transport` against its managed program (`comm`), checks the summary: every message
/// delivered, the server's resources measured, its wire bytes unavailable (not ours to
/// count), the clients' handshake apart; and no process of the program left afterwards.
fn a_run_measures_the_broker_and_leaves_none_behind(
    peer: &Peer,
    transport: &str,
    comm: &str,
    extra: &str,
) {
    if !present(peer) {
        return;
    }
    let _turn = serial();
    let before = pids_named(comm);
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), transport, extra);
    let out_dir = dir.path().join("out");
    let out = run(&s, &out_dir, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json violates its schema: {errors:#?}"
    );
    let run = &summary["runs"][0];
    assert_eq!(run["transport"], transport);
    assert_eq!(run["lost"], 0, "{run}");
    assert!(run["delivered"].as_u64().unwrap() > 0, "{run}");
    let server = &run["resources"]["server"];
    assert_eq!(server["available"], true, "{server}");
    assert!(server["rss_bytes_before"].as_u64().unwrap() > 0, "{server}");
    // Its sockets are not ours: the server side is the mirror of the clients' counts.
    bin_support::assert_mirrored_server(run);
    let after = pids_named(comm);
    let left: Vec<u32> = after.into_iter().filter(|p| !before.contains(p)).collect();
    assert!(
        left.is_empty(),
        "{comm} processes left after the run: {left:?}"
    );
}

#[test]
fn redis_pubsub_run_measures_redis_and_leaves_none_behind() {
    a_run_measures_the_broker_and_leaves_none_behind(&REDIS, "redis-pubsub", "redis-server", "");
}

#[test]
fn redis_streams_run_measures_redis_and_leaves_none_behind() {
    let knobs = "[transport.redis-streams]\ncount = 100\nblock = \"200ms\"\nmaxlen = 10000\n";
    a_run_measures_the_broker_and_leaves_none_behind(
        &REDIS,
        "redis-streams",
        "redis-server",
        knobs,
    );
}

#[test]
fn mqtt_run_measures_mosquitto_and_leaves_none_behind() {
    a_run_measures_the_broker_and_leaves_none_behind(&MOSQUITTO, "mqtt", "mosquitto", "");
}

#[test]
fn bad_knobs_exit_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    for (transport, table) in [
        ("redis-streams", "[transport.redis-streams]\ncount = 0\n"),
        (
            "redis-streams",
            "[transport.redis-streams]\nblock = \"0s\"\n",
        ),
        (
            "redis-streams",
            "[transport.redis-streams]\nmaxlen = \"lots\"\n",
        ),
        ("mqtt", "[transport.mqtt]\nqos = 2\n"),
        ("mqtt", "[transport.mqtt]\nclean_session = \"yes\"\n"),
    ] {
        let s = scenario(dir.path(), transport, table);
        let out = Command::new(BIN).arg("validate").arg(&s).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{table}: {stderr}");
        // The knob is the table's second line: its line in the file, and some column.
        let text = std::fs::read_to_string(&s).unwrap();
        let knob = table.lines().nth(1).unwrap();
        let line = text.lines().position(|l| l == knob).unwrap() + 1;
        let at = format!("{}:{line}:", s.display());
        assert!(
            stderr.contains(&at),
            "{table}: no file:line:col in {stderr}"
        );
    }
}

#[test]
fn an_existing_redis_is_used_and_nothing_is_started() {
    use transport_core::{ServerContext, ServerHandle, Transport};
    if !present(&REDIS) {
        return;
    }
    let _turn = serial();
    // Someone else's Redis: here one this test starts, outside the binary under test.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = transport_redis::StreamsConfig::default();
    let theirs = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        transport_redis::RedisStreams::serve(&config, listener, ServerContext::fresh())
            .await
            .unwrap()
    });
    let addr = theirs.local_addr();
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), "redis-streams", "");
    let out_dir = dir.path().join("out");
    let out = Command::new(BIN)
        .args(["run", s.to_str().unwrap(), "--out"])
        .arg(&out_dir)
        .args(["-q", "--server", &format!("redis-streams={addr}")])
        .output()
        .unwrap();
    rt.block_on(theirs.shutdown()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let run = &summary["runs"][0];
    assert_eq!(run["transport"], "redis-streams");
    assert_eq!(run["lost"], 0, "{run}");
    // Not started by the run, so not sampled: unavailable, saying why, never zeros.
    let server = &run["resources"]["server"];
    assert_eq!(server["available"], false, "{server}");
    assert!(server["unavailable_reason"].is_string(), "{server}");
}
