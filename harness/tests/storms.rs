//! Reconnect storms and churn through the real binary, each server in its own process: a
//! killed server comes back on its port and every subscriber with it, a churn cuts exactly
//! the connections its schedule asks for, no server outlives a harness killed mid-storm, and
//! what cannot be done is refused with exit 2 before anything runs.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod bin_support;

use bin_support::BIN;
use transport_test_support::procs::{alive, children, eventually};

const TRANSPORTS: &str = r#"transports = ["raw-tcp", "websocket", "long-poll", "sse", "pull-log"]"#;

/// The storm tests take turns: each drives hundreds of connections through one server, and
/// two at once on a 2-core machine would measure each other.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runs(summary: &Value) -> &Vec<Value> {
    summary["runs"].as_array().unwrap()
}

fn valid(summary: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(summary)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json violates its schema: {errors:#?}"
    );
}

/// The re-convergence of a run's only fault: (t50, t99, t100, affected, live again).
fn reconvergence(run: &Value) -> (u64, u64, u64, u64, u64) {
    let r = &run["faults"][0]["reconvergence"];
    let t = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} reached: {r}"));
    (
        t("t50_ns"),
        t("t99_ns"),
        t("t100_ns"),
        t("affected"),
        t("live_again"),
    )
}

/// A graceful restart (`term`): long-poll, sse and the pull-log broker (its log in memory)
/// drain first, raw-tcp and websocket publishers resend what was not confirmed, so with every
/// subscriber resuming nothing is lost. A kill is the nchan test's and the orphan test's; a killed in-memory server
/// loses what it held by design (scenarios/storm.toml measures how much).
#[test]
fn a_restarted_server_process_comes_back_on_its_port_with_every_subscriber() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"term\"\ndescription = \"200 subscribers, the server stopped for 1 s\"\n\
         {TRANSPORTS}\nwarmup = \"500ms\"\nduration = \"4s\"\ndrain_timeout = \"10s\"\n\
         subscribers = 200\npayload = \"100B\"\nrate_per_sec = 10\n\
         [[faults]]\nat = \"1s\"\nkind = \"server-restart\"\nduration = \"1s\"\nsignal = \"term\"\n"
    );
    let (_, summary) = bin_support::run_ok(dir.path(), &text);
    valid(&summary);
    assert_eq!(runs(&summary).len(), 5);
    for run in runs(&summary) {
        let name = run["transport"].as_str().unwrap();
        let f = &run["faults"][0];
        assert!(
            f["fired"].as_bool().unwrap() && f["error"].is_null(),
            "{name}: {f}"
        );
        let (t50, t99, t100, affected, back) = reconvergence(run);
        assert_eq!(
            (affected, back),
            (200, 200),
            "{name}: every subscriber is back"
        );
        assert!(t50 <= t99 && t99 <= t100, "{name}: {t50} {t99} {t100}");
        assert!(
            t50 >= 1_000_000_000,
            "{name}: nobody is back before the server is"
        );
        assert_eq!(
            run["lost"], 0,
            "{name}: a drained server loses nothing: {f}"
        );
        assert!(
            f["connect_attempts"].as_u64().unwrap() >= 200,
            "{name}: {f}"
        );
        let incarnations = run["resources"]["server"]["incarnations"]
            .as_array()
            .unwrap();
        assert_eq!(incarnations.len(), 2, "{name}: {incarnations:?}");
        assert_eq!(incarnations[0]["ended_by"], "term");
        assert_ne!(incarnations[0]["pid"], incarnations[1]["pid"]);
        assert!(
            incarnations
                .iter()
                .all(|i| i["cpu_s"].as_f64().unwrap() > 0.0)
        );
        assert!(
            run["resources"]["server"]["available"].as_bool().unwrap(),
            "{name}: the server's figures span both processes"
        );
    }
}

/// Subscribers and publishers both churned (`target = "all"`): 10 of each side a second, so
/// each of the 10 publishers (10 messages a second each, the run's 100 shared) is cut once a
/// second: a cut that fell while its client was still reconnecting from the last one would
/// have nothing to cut.
#[test]
fn a_churn_cuts_exactly_what_its_schedule_asks_and_loses_nothing() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"churn\"\ndescription = \"100 subscribers and 10 publishers, 10 of each cut a second\"\n\
         {TRANSPORTS}\nwarmup = \"500ms\"\nduration = \"5s\"\ndrain_timeout = \"10s\"\n\
         subscribers = 100\npublishers = 10\npayload = \"100B\"\nrate_per_sec = 100\n\
         [[faults]]\nat = \"1s\"\nkind = \"churn\"\ntarget = \"all\"\nrate_per_sec = 10\nduration = \"3s\"\n"
    );
    let (out, summary) = bin_support::run_ok(dir.path(), &text);
    valid(&summary);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(
        report.matches("the churn cut its publishers too").count(),
        5,
        "the Storms section says what the publishers' cuts cost, per run"
    );
    for run in runs(&summary) {
        let name = run["transport"].as_str().unwrap();
        let f = &run["faults"][0];
        let (t50, t99, t100, affected, back) = reconvergence(run);
        assert_eq!((affected, back), (30, 30), "{name}: 10 a second for 3 s");
        assert!(t50 <= t99 && t99 <= t100);
        // Each cut is one reconnection; a loaded machine may add a reconnect of the
        // transport's own (a request that timed out), never take one away.
        let connections = f["connections"].as_u64().unwrap();
        assert!(connections >= 30, "{name}: one reconnection per cut: {f}");
        let attempts = f["connect_attempts"].as_u64().unwrap();
        let failures = f["connect_failures"].as_u64().unwrap();
        assert_eq!(attempts, connections + failures, "{name}: {f}");
        // The publishers' 30 cuts: each is a reconnection, and what was not confirmed is
        // sent again.
        let p_connections = f["publisher_connections"].as_u64().unwrap();
        assert!(p_connections >= 30, "{name}: one per publisher cut: {f}");
        let p_attempts = f["publisher_connect_attempts"].as_u64().unwrap();
        let p_failures = f["publisher_connect_failures"].as_u64().unwrap();
        assert_eq!(p_attempts, p_connections + p_failures, "{name}: {f}");
        assert_eq!(f["target"], "all");
        assert_eq!(run["lost"], 0, "{name}: every client resumes");
    }
}

#[test]
fn no_server_outlives_a_harness_killed_mid_storm() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"orphans\"\ndescription = \"restarts, then the harness dies\"\n\
         transports = [\"websocket\"]\nwarmup = \"200ms\"\nduration = \"60s\"\n\
         subscribers = 20\nrate_per_sec = 10\nallow_loss = true\n\
         [[faults]]\nat = \"500ms\"\nkind = \"server-restart\"\nduration = \"200ms\"\n",
    )
    .unwrap();
    let mut harness = Command::new(BIN)
        .args(["run", scenario.to_str().unwrap(), "-q", "--out"])
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = harness.id();
    let mut seen: Vec<u32> = Vec::new();
    // The first server, then its successor after the restart: two different children.
    let restarted = eventually(Duration::from_secs(60), || {
        for c in children(pid) {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen.len() >= 2 && children(pid).iter().any(|c| *c == seen[seen.len() - 1])
    });
    harness.kill().unwrap();
    harness.wait().unwrap();
    assert!(
        restarted,
        "the server was never restarted: children {seen:?}"
    );
    let successor = *seen.last().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !alive(successor)),
        "the restarted server {successor} outlived the killed harness"
    );
}

/// Runs `validate` on a scenario and returns its exit code and stderr.
fn validate(dir: &Path, text: &str) -> (Option<i32>, String) {
    let scenario = dir.join("bad.toml");
    std::fs::write(&scenario, text).unwrap();
    let o = Command::new(BIN)
        .args(["run", scenario.to_str().unwrap(), "-q", "--out"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn what_a_storm_cannot_do_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let head =
        "name = \"bad\"\ndescription = \"d\"\ntransports = [\"raw-tcp\"]\nduration = \"3s\"\n";
    let fault = |body: &str| format!("{head}[[faults]]\nat = \"1s\"\n{body}");
    let cases = [
        (
            fault("kind = \"churn\"\nrate_per_sec = 0\nduration = \"1s\"\n"),
            "bad.toml:8:",
            "rate_per_sec must be > 0",
        ),
        (
            fault("kind = \"churn\"\nshare_per_sec = 1.5\nduration = \"1s\"\n"),
            "bad.toml:8:",
            "share_per_sec must be in (0, 1]",
        ),
        (
            fault("kind = \"churn\"\nduration = \"1s\"\n"),
            "bad.toml:7:",
            "rate_per_sec (clients per second) or share_per_sec",
        ),
        (
            fault("kind = \"churn\"\nrate_per_sec = 1\nduration = \"1s\"\ntarget = \"everyone\"\n"),
            "bad.toml:10:",
            "allowed: all, subscribers, publishers",
        ),
        (
            fault("kind = \"server-restart\"\nduration = \"1s\"\nsignal = \"hup\"\n"),
            "bad.toml:9:",
            "allowed: kill, term",
        ),
        (
            format!(
                "{}[server]\nmode = \"in-process\"\n",
                fault("kind = \"server-restart\"\nduration = \"1s\"\nsignal = \"kill\"\n")
            ),
            "bad.toml:5:",
            "cannot be killed",
        ),
        (
            format!(
                "{}[transport.raw-tcp]\naddress = \"10.0.0.1:7000\"\n",
                fault("kind = \"server-restart\"\nduration = \"1s\"\n")
            ),
            "bad.toml:5:",
            "needs a server the runner owns",
        ),
        (
            format!("{head}reconnect = \"eventually\"\n"),
            "bad.toml:5:",
            "allowed: full-jitter, immediate",
        ),
    ];
    for (text, place, message) in cases {
        let (code, stderr) = validate(dir.path(), &text);
        assert_eq!(code, Some(2), "{text}\n{stderr}");
        assert!(
            stderr.contains(place) && stderr.contains(message),
            "{text}\n{stderr}"
        );
    }
}

#[test]
fn a_restart_of_a_server_someone_else_runs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"remote\"\ndescription = \"d\"\ntransports = [\"raw-tcp\"]\nduration = \"3s\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"server-restart\"\nduration = \"1s\"\n",
    )
    .unwrap();
    let o = Command::new(BIN)
        .args(["run", scenario.to_str().unwrap(), "-q", "--server"])
        .args(["raw-tcp=127.0.0.1:9", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--server") && stderr.contains("cannot stop or start it"),
        "{stderr}"
    );
}
