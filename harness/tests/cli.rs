//! The real `transport-bench` binary end to end: a run over loopback writes a results folder
//! whose summary.json validates against the published schema; bad input exits 2 naming
//! file:line:col; `serve` prints its address, serves a real client, and stops on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const TINY: &str = r#"name = "tiny"
description = "raw-tcp only, one second"
transports = ["raw-tcp"]
warmup = "200ms"
duration = "1s"
drain_timeout = "2s"
payload = "100B"
rate_per_sec = 2000
subscribers = [1, 2]

[transport.raw-tcp]
# No periodic resume syncs, so the only sync is the publisher's final flush.
sync_every_messages = 1000000000
sync_interval = "1h"
"#;

/// Runs that measure take turns: two load generators on 2 cores make each other's generator
/// wake late, and the run is then (rightly) marked invalid.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `transport-bench run SCENARIO --out OUT -q`.
fn run_quietly(scenario: &Path, out: &Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap()
}

#[test]
fn run_writes_a_results_folder_that_matches_the_schema() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "tiny.toml", TINY);
    let out = dir.path().join("out");
    let o = run_quietly(&scenario, &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("raw-tcp subscribers=1") && stdout.contains("raw-tcp subscribers=2"),
        "table: {stdout}"
    );
    assert!(stdout.contains("overhead B/msg"));

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
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

    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["lost"], 0);
        // raw-tcp: 4 bytes of framing per hop, plus the publisher's final flush: one sync, an
        // empty frame (4 bytes) answered with a count (12 bytes).
        let published = r["published"].as_f64().unwrap();
        let close = |key: &str, expected: f64| {
            let got = r["wire"][key].as_f64().unwrap();
            assert!((got - expected).abs() < 1e-9, "{key}: {got} != {expected}");
        };
        close("overhead_s2c_bytes_per_delivered", 4.0);
        close("overhead_c2s_bytes_per_published", 4.0 + 4.0 / published);
        close("publisher_s2c_bytes_per_published", 12.0 / published);
        // Pure push: subscribers send nothing after subscribing.
        assert_eq!(
            r["wire"]["subscriber_c2s_bytes_per_delivered"].as_f64(),
            Some(0.0)
        );
        // Whether the generator kept up depends on the machine at that moment (a debug-build
        // server process shares the 2 cores): not asserted here. What must hold is that an
        // invalid run says why, and a valid one has no reason.
        match r["valid"].as_bool() {
            Some(true) => assert!(r["invalid_reason"].is_null(), "{r}"),
            Some(false) => assert!(r["invalid_reason"].as_str().is_some_and(|s| !s.is_empty())),
            None => panic!("valid must be a bool: {r}"),
        }
        for f in [&r["files"]["hgrm"], &r["files"]["interval_log"]] {
            let path = out.join(f.as_str().unwrap());
            assert!(
                std::fs::metadata(&path).unwrap().len() > 0,
                "{} is written",
                path.display()
            );
        }
    }
    assert_eq!(
        summary["scenario"]["effective"]["transport_options"]["raw-tcp"]["queue_capacity"],
        1024
    );
    assert_eq!(summary["environment"]["socket"]["nodelay"], true);
}

fn bad(dir: &Path, name: &str, text: &str, expect: &[&str]) {
    let p = write(dir, name, text);
    let o = Command::new(BIN)
        .args(["run", p.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{name}: expected `{e}` in: {stderr}");
    }
}

#[test]
fn bad_scenarios_exit_2_and_name_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"x\"\ndescription = \"x\"\nduration = \"1s\"\n";
    bad(
        dir.path(),
        "unknown-key.toml",
        &format!("{base}durration = \"2s\"\n"),
        &["unknown-key.toml:4:1", "durration"],
    );
    bad(
        dir.path(),
        "wrong-type.toml",
        &format!("{base}rate_per_sec = \"fast\"\n"),
        &["wrong-type.toml:4:", "max"],
    );
    bad(
        dir.path(),
        "negative.toml",
        &format!("{base}rate_per_sec = -5\n"),
        &["negative.toml:4:", "rate_per_sec"],
    );
    bad(
        dir.path(),
        "transport.toml",
        &format!("{base}transports = [\"web-socket\"]\n"),
        &["transport.toml:4:", "web-socket", "raw-tcp"],
    );
    let missing = dir.path().join("missing.toml");
    let o = Command::new(BIN)
        .args(["run", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new(BIN)
        .args(["run", "quick", "--transport", "carrier-pigeon"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(BIN)
        .args([
            "run",
            "quick",
            "--out",
            "/proc/transport-bench-cannot-create",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "uncreatable results folder");
    let broken = dir.path().join("broken-results");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("summary.json"), "{ not json").unwrap();
    let o = Command::new(BIN)
        .args(["report", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "unreadable summary.json");
}

#[test]
fn validate_accepts_every_shipped_scenario_and_list_names_transports() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let o = Command::new(BIN)
        .arg("validate")
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(BIN).arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("raw-tcp") && text.contains("queue_capacity"),
        "{text}"
    );
}

#[test]
fn serve_prints_its_address_serves_clients_and_stops_on_sigterm() {
    let _turn = serial();
    let mut child = Command::new(BIN)
        .args(["serve", "--transport", "raw-tcp", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("serve prints its address");
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        line.starts_with("raw-tcp listening on 127.0.0.1:"),
        "{line}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use transport_core::{ClientContext, Envelope, Publisher, Subscriber, Transport};
        use transport_raw_tcp::{RawTcp, RawTcpConfig};
        let cfg = RawTcpConfig::default();
        let bound = Duration::from_secs(10);
        let mut sub = tokio::time::timeout(
            bound,
            RawTcp::subscriber(&cfg, &addr, "t", ClientContext::fresh(0)),
        )
        .await
        .unwrap()
        .unwrap();
        let mut publisher = tokio::time::timeout(
            bound,
            RawTcp::publisher(&cfg, &addr, "t", ClientContext::fresh(0)),
        )
        .await
        .unwrap()
        .unwrap();
        let msg = Envelope {
            publisher: 0,
            seq: 7,
            intended_ns: 0,
            sent_ns: 0,
        }
        .encode(64);
        publisher.publish(msg.clone()).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(bound, sub.recv(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![msg]);
    });

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    match done_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(status) => assert!(status.unwrap().success(), "serve exits cleanly on SIGTERM"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("serve did not exit within 10 s of SIGTERM");
        }
    }
}

#[test]
fn a_run_with_a_link_and_a_fault_prints_and_reports_them() {
    let _turn = serial();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "fault.toml",
        r#"name = "fault"
description = "raw-tcp, one reset, through a 2 ms link"
transports = ["raw-tcp"]
warmup = "200ms"
duration = "1500ms"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = 200

[link]
rtt = "2ms"

[[faults]]
at = "500ms"
kind = "reset-connections"
"#,
    );
    let out = dir.path().join("out");
    let o = run_quietly(&scenario, &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "stdout: {stdout}");
    let fault_line = stdout
        .lines()
        .skip_while(|l| !l.starts_with("faults ("))
        .find(|l| l.starts_with("raw-tcp"))
        .unwrap_or_else(|| panic!("a faults table after the run table: {stdout}"));
    assert!(fault_line.contains("reset all"), "{fault_line}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("2ms round trip"), "{report}");
    assert!(report.contains("The link is emulated"), "{report}");
    let faults = report.split("## Faults").nth(1).expect("a faults section");
    let row = faults
        .lines()
        .find(|l| l.starts_with("| raw-tcp |"))
        .expect("a row for the run");
    // Lost, duplicated: the floor resumes exactly.
    assert!(row.contains("| reset all | 0.5s | 0 | 0 |"), "{row}");
}

/// A run whose clients cannot get their descriptors is refused before anything connects:
/// exit 2 naming the need and the limit. The child gets a limit of 1024 and, when the test
/// runs as root, drops root first (root could raise the limit again).
#[test]
fn a_run_that_cannot_get_its_descriptors_exits_2_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    let scenario = write(
        dir.path(),
        "many.toml",
        &TINY.replace("subscribers = [1, 2]", "subscribers = 2000"),
    );
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut argv: Vec<String> = Vec::new();
    if as_root {
        argv.extend(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]
            .map(String::from),
        );
    }
    argv.extend([BIN, "run", scenario.to_str().unwrap(), "-q"].map(String::from));
    let o = Command::new("sh")
        .args(["-c", "ulimit -n 1024 && exec \"$@\"", "sh"])
        .args(&argv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("open files"), "{stderr}");
    assert!(stderr.contains("1024"), "names the limit: {stderr}");
    assert!(stderr.contains("ulimit -n"), "names the fix: {stderr}");
}
