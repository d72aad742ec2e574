//! End to end: `transport-bench serve` as a child process the harness owns. Its scraped wire
//! bytes equal what the clients counted; it stops cleanly; and no server process outlives its
//! owner, whether the owner stops it, drops it, or is killed with SIGKILL.

#![allow(clippy::unwrap_used)]

mod server_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use transport_bench::registry::TransportKind;
use transport_bench::server::resources::is_running;
use transport_bench::server::{ChildError, ChildServer, ChildSpec};
use transport_core::Transport;
use transport_test_support::procs::eventually;

const GRACE: Duration = Duration::from_secs(10);
/// Environment variable that turns the ignored helper test into the "harness" process.
const HELPER_ROLE: &str = "TRANSPORT_BENCH_TEST_ROLE";

fn spec(transport: TransportKind) -> ChildSpec {
    ChildSpec {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_transport-bench")),
        ..ChildSpec::new(transport).unwrap()
    }
}

/// The child's server-side bytes equal the clients' counts exactly (what one side writes the
/// other reads, once every connection is closed), and the child then stops on SIGTERM.
async fn child_wire_bytes_equal_client_counts<T: Transport>(kind: TransportKind) {
    let server = ChildServer::start(&spec(kind)).await.unwrap();
    let clients =
        server_support::traffic::<T>(&T::Config::default(), &server.addr().to_string(), 200, 100)
            .await
            .snapshot();
    // The child reads the clients' last bytes (their close) on its own schedule: poll, bounded.
    let end = Instant::now() + Duration::from_secs(10);
    let snap = loop {
        let snap = server
            .probe(Duration::from_secs(5))
            .snapshot()
            .await
            .unwrap();
        let settled = snap.wire.total_read() == clients.total_written()
            && snap.wire.total_written() == clients.total_read();
        if settled || Instant::now() > end {
            break snap;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(snap.wire.total_read(), clients.total_written());
    assert_eq!(snap.wire.total_written(), clients.total_read());
    assert_eq!(snap.wire.connections, clients.connections);
    let p = snap.process.expect("the child measures its process");
    assert!(
        p.rss_bytes > 0 && p.threads >= 1 && p.open_sockets >= 2,
        "{p:?}"
    );
    let pid = server.pid();
    let stopped = server.shutdown(GRACE).await.unwrap();
    assert!(stopped.status.success() && !stopped.forced, "{stopped:?}");
    assert!(!is_running(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_child_wire_bytes_equal_client_counts() {
    child_wire_bytes_equal_client_counts::<transport_raw_tcp::RawTcp>(TransportKind::RawTcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_child_wire_bytes_equal_client_counts() {
    child_wire_bytes_equal_client_counts::<transport_websocket::WebSocket>(
        TransportKind::WebSocket,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_owner_kills_the_child() {
    let server = ChildServer::start(&spec(TransportKind::RawTcp))
        .await
        .unwrap();
    let pid = server.pid();
    assert!(is_running(pid));
    drop(server);
    assert!(eventually(GRACE, || !is_running(pid)), "pid {pid} survived");
}

#[tokio::test]
async fn a_child_that_fails_to_start_reports_its_stderr() {
    let mut s = spec(TransportKind::RawTcp);
    s.options
        .insert("no_such_option".into(), toml::Value::Integer(1));
    let err = ChildServer::start(&s).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ChildError::Startup { .. }), "{msg}");
    assert!(
        msg.contains("no_such_option") && msg.contains("exit status"),
        "{msg}"
    );
}

#[tokio::test]
async fn cpus_are_checked_and_applied() {
    let mut s = spec(TransportKind::RawTcp);
    s.cpus = Some(vec![100_000]);
    let err = ChildServer::start(&s).await.unwrap_err();
    assert!(matches!(err, ChildError::Cpus(_)), "{err}");
    let first = transport_bench::affinity::current()[0] as usize;
    s.cpus = Some(vec![first]);
    let server = ChildServer::start(&s).await.unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    assert_eq!(allowed, first.to_string());
    server.shutdown(GRACE).await.unwrap();
}

/// Not a test of its own: the "harness" process for `killing_the_owner_with_sigkill_kills_the_child`,
/// which runs this test binary again with [`HELPER_ROLE`] set. It starts a child server, prints
/// its pid, and waits for its stdin to close.
#[test]
#[ignore = "helper process, run by killing_the_owner_with_sigkill_kills_the_child"]
fn helper_owner_of_a_child() {
    if std::env::var_os(HELPER_ROLE).is_none() {
        return;
    }
    // A current-thread runtime: the thread that spawns the child (this one) lives as long as the
    // process, which the parent-death signal requires.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(ChildServer::start(&spec(TransportKind::RawTcp)))
        .unwrap();
    println!("CHILD_PID={}", server.pid());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(server);
}

#[test]
fn killing_the_owner_with_sigkill_kills_the_child() {
    let mut owner = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_owner_of_a_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_ROLE, "owner")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = owner.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(pid) = line.strip_prefix("CHILD_PID=") {
                let _ = tx.send(pid.trim().parse::<u32>().unwrap());
            }
        }
    });
    let pid = rx.recv_timeout(Duration::from_secs(60));
    // SIGKILL: the owner runs no cleanup at all; only the parent-death signal can save us.
    owner.kill().unwrap();
    owner.wait().unwrap();
    let pid = pid.expect("the helper printed its child's pid");
    let gone = eventually(GRACE, || !is_running(pid));
    if !gone {
        // Do not leave the orphan behind when the test fails.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(gone, "child server {pid} outlived its SIGKILLed owner");
}

#[test]
fn serve_refuses_an_unusable_metrics_address_with_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_transport-bench"))
        .args([
            "serve",
            "--transport",
            "raw-tcp",
            "--metrics",
            "256.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot bind metrics address 256.0.0.1:0"),
        "{stderr}"
    );
}
