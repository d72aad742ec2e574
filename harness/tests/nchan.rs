//! The runner with a server it does not own the code of: nginx with Nchan, started, measured
//! and stopped by `run`; and the clear refusals (exit 2) when it cannot be: nginx missing, a
//! scenario asking for an in-process server, `serve` asked to run it.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod bin_support;
use transport_test_support::peers::{NCHAN, present};
use transport_test_support::procs::pids_named;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

fn scenario(dir: &Path, transport: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"name = "nchan"
description = "one Nchan transport, one second"
transports = ["{transport}"]
baseline = false
warmup = "300ms"
duration = "1s"
drain_timeout = "5s"
payload = "100B"
rate_per_sec = 200
subscribers = 2
{extra}"#
    );
    let p = dir.join("nchan.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(scenario: &Path, out: &Path, path_env: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

/// Held by every test that runs nginx: each checks that no nginx it did not see before is
/// left after its run, which another test's nginx running meanwhile would break.
static NGINX_RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn nginx_alone() -> std::sync::MutexGuard<'static, ()> {
    NGINX_RUNS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn missing_nginx_exits_2_naming_the_packages() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let s = scenario(dir.path(), "nchan-sse", "");
    let out = run(&s, &dir.path().join("out"), Some(&empty));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nginx-light libnginx-mod-nchan"),
        "{stderr}"
    );
}

#[test]
fn a_missing_module_exits_2_naming_its_package() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        dir.path(),
        "nchan-long-poll",
        "[transport.nchan-long-poll]\nmodule = \"/nonexistent/ngx_nchan_module.so\"\n",
    );
    let out = run(&s, &dir.path().join("out"), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("libnginx-mod-nchan"), "{stderr}");
}

#[test]
fn in_process_mode_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        dir.path(),
        "nchan-websocket",
        "[server]\nmode = \"in-process\"\n",
    );
    let out = run(&s, &dir.path().join("out"), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("in-process") && stderr.contains("nchan-websocket"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_program_transport() {
    let out = Command::new(BIN)
        .args(["serve", "--transport", "nchan-sse"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("run --server"), "{stderr}");
}

#[test]
fn a_run_measures_nginx_and_leaves_none_behind() {
    if !present(&NCHAN) {
        return;
    }
    let _alone = nginx_alone();
    let before = pids_named("nginx");
    let dir = tempfile::tempdir().unwrap();
    let config = "[transport.nchan-websocket]\nworker_processes = 2\n";
    let s = scenario(dir.path(), "nchan-websocket", config);
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
    assert_eq!(run["transport"], "nchan-websocket");
    assert_eq!(run["lost"], 0);
    assert!(run["delivered"].as_u64().unwrap() > 0);
    let server = &run["resources"]["server"];
    assert_eq!(server["available"], true, "{server}");
    // Master plus two workers, one thread each.
    assert_eq!(server["threads"], 3, "{server}");
    assert!(server["rss_bytes_before"].as_u64().unwrap() > 0, "{server}");
    // Its sockets are not ours: the server side is the mirror of the clients' counts.
    bin_support::assert_mirrored_server(run);
    let after = pids_named("nginx");
    let left: Vec<u32> = after.into_iter().filter(|p| !before.contains(p)).collect();
    assert!(
        left.is_empty(),
        "nginx processes left after the run: {left:?}"
    );
}

/// A `server-restart` of a program: every nginx process killed, a new master and workers on
/// the same port, every subscriber back, both incarnations measured, none left behind.
#[test]
fn a_killed_nginx_comes_back_with_its_subscribers_and_leaves_none_behind() {
    if !present(&NCHAN) {
        return;
    }
    let _alone = nginx_alone();
    let before = pids_named("nginx");
    let dir = tempfile::tempdir().unwrap();
    let fault = "duration = \"4s\"\nallow_loss = true\n\
                 [[faults]]\nat = \"1s\"\nkind = \"server-restart\"\nduration = \"500ms\"\n";
    let text = std::fs::read_to_string(scenario(dir.path(), "nchan-sse", ""))
        .unwrap()
        .replace("duration = \"1s\"\n", "")
        .replace("rate_per_sec = 200", "rate_per_sec = 20");
    let s = dir.path().join("restart.toml");
    std::fs::write(&s, format!("{text}{fault}")).unwrap();
    let out = run(&s, &dir.path().join("out"), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out").join("summary.json")).unwrap(),
    )
    .unwrap();
    let run = &summary["runs"][0];
    let f = &run["faults"][0];
    assert!(f["error"].is_null(), "{f}");
    assert_eq!(f["reconvergence"]["live_again"], 2, "{f}");
    let incarnations = run["resources"]["server"]["incarnations"]
        .as_array()
        .unwrap();
    assert_eq!(incarnations.len(), 2, "{incarnations:?}");
    assert_eq!(incarnations[0]["ended_by"], "kill");
    let left: Vec<u32> = pids_named("nginx")
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert!(left.is_empty(), "nginx processes left behind: {left:?}");
}
