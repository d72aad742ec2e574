//! The runner with nats-server, a broker it does not own the code of: started on a free port,
//! measured from /proc and stopped by `run` for all three NATS transports; an existing server
//! used through `--server` with nothing started and its resources unavailable, saying why; and
//! the clear refusals (exit 2): nats-server missing from PATH, a bad knob named by
//! file:line:col with its allowed values.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

mod bin_support;
use transport_test_support::peers::{NATS, present};
use transport_test_support::procs::pids_named;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

/// Tests that count nats-server processes take turns, so one's server is not another's orphan.
static COUNTING: Mutex<()> = Mutex::new(());

fn counting_alone() -> MutexGuard<'static, ()> {
    COUNTING.lock().unwrap_or_else(PoisonError::into_inner)
}

fn scenario(dir: &Path, transports: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "nats"
description = "the NATS transports, one second each"
transports = [{transports}]
baseline = false
warmup = "300ms"
duration = "1s"
drain_timeout = "5s"
payload = "100B"
rate_per_sec = 500
subscribers = 3
{extra}"#
    );
    let p = dir.join("nats.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(scenario: &Path, out: &Path, path_env: Option<&Path>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    cmd.args(extra);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

fn summary(dir: &Path) -> serde_json::Value {
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
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
    summary
}

#[test]
fn missing_nats_server_exits_2_naming_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let s = scenario(dir.path(), r#""nats-pull""#, "");
    let out = run(&s, &dir.path().join("out"), Some(&empty), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("apt-get install -y nats-server"),
        "{stderr}"
    );
}

#[test]
fn a_bad_knob_exits_2_naming_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        dir.path(),
        r#""nats-push""#,
        "[transport.nats-push]\nflow_control = true\nidle_heartbeat = \"0s\"\n",
    );
    let out = Command::new(BIN)
        .args(["validate", s.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Line 13 is `idle_heartbeat = "0s"`; the error points at its value.
    assert!(stderr.contains("nats.toml:13:18"), "{stderr}");
    assert!(stderr.contains("idle_heartbeat"), "{stderr}");
    let s = scenario(
        dir.path(),
        r#""nats-pull""#,
        "[transport.nats-pull]\nack_policy = \"sometimes\"\n",
    );
    let out = Command::new(BIN)
        .args(["validate", s.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nats.toml:12:14"), "{stderr}");
    assert!(stderr.contains("explicit"), "the allowed values: {stderr}");
}

#[test]
fn a_run_measures_nats_server_and_leaves_none_behind() {
    if !present(&NATS) {
        return;
    }
    let _alone = counting_alone();
    let before = pids_named("nats-server");
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), r#""nats-core", "nats-push", "nats-pull""#, "");
    let out_dir = dir.path().join("out");
    let out = run(&s, &out_dir, None, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = summary(&out_dir);
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        let name = &run["transport"];
        assert_eq!(run["lost"], 0, "{name}");
        assert!(run["delivered"].as_u64().unwrap() > 0, "{name}");
        let server = &run["resources"]["server"];
        assert_eq!(server["available"], true, "{name}: {server}");
        assert!(server["rss_bytes_before"].as_u64().unwrap() > 0, "{server}");
        let client = &run["wire"]["client"];
        // Kernel-counted: the payload at least, and the set-up as handshake.
        assert!(
            client["written"].as_u64().unwrap() > 500 * 100,
            "{name}: {client}"
        );
        assert!(
            client["handshake_written"].as_u64().unwrap() > 0,
            "{name}: {client}"
        );
        // Its sockets are not ours: the server side is the mirror of the clients' counts.
        bin_support::assert_mirrored_server(run);
    }
    let left: Vec<u32> = pids_named("nats-server")
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(left.is_empty(), "nats-server left after the run: {left:?}");
}

/// A nats-server the test runs itself, killed when dropped.
struct Started(std::process::Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_existing_server_is_used_and_nothing_is_started() {
    if !present(&NATS) {
        return;
    }
    let _alone = counting_alone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tempfile::tempdir().unwrap();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Started(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = pids_named("nats-server");
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(dir.path(), r#""nats-pull""#, "");
    let out_dir = dir.path().join("out");
    let server = format!("nats-pull=127.0.0.1:{port}");
    let out = run(&s, &out_dir, None, &["--server", &server]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        pids_named("nats-server"),
        before,
        "nothing started or stopped"
    );
    let summary = summary(&out_dir);
    let run = &summary["runs"][0];
    assert_eq!(run["lost"], 0);
    let server = &run["resources"]["server"];
    assert_eq!(server["available"], false, "{server}");
    assert!(
        server["unavailable_reason"].as_str().unwrap().len() > 5,
        "{server}"
    );
    drop(started);
}
