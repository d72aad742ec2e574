//! The managed nats-server's life: it delivers, and is gone after a stop and after its owner
//! is killed with SIGKILL; a missing executable is named with its Debian package.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::conformance::message;
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport, TransportError,
};
use transport_nats::{CoreConfig, NatsCore, NatsPull, NatsServer, PullConfig};
use transport_test_support::peers::{NATS, present};
use transport_test_support::procs::still_running_after;

const BOUND: Duration = Duration::from_secs(10);
/// Set in the child this file runs to be killed: it starts nats-server and prints its pid.
const OWNER_ENV: &str = "TRANSPORT_BENCH_NATS_OWNER";

async fn start() -> NatsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    tokio::time::timeout(
        BOUND,
        NatsPull::serve(&PullConfig::default(), listener, ServerContext::fresh()),
    )
    .await
    .expect("nats-server starts in time")
    .expect("nats-server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_then_stops_leaving_no_process() {
    if !present(&NATS) {
        return;
    }
    let server = start().await;
    let pids = server.program_pids().expect("a program server has pids");
    assert_eq!(pids.len(), 1, "nats-server is one process: {pids:?}");
    let addr = server.local_addr().to_string();
    let config = PullConfig::default();
    let ctx = ClientContext::fresh(0);
    let mut sub = NatsPull::subscriber(&config, &addr, "life", ctx.clone())
        .await
        .expect("subscribe");
    let mut publisher = NatsPull::publisher(&config, &addr, "life", ctx)
        .await
        .expect("publisher");
    for seq in 0..100 {
        publisher.publish(message(seq, 100)).await.expect("publish");
    }
    publisher.flush().await.expect("flush");
    let mut got = Vec::new();
    while got.len() < 100 {
        tokio::time::timeout(BOUND, sub.recv(&mut got))
            .await
            .expect("recv in time")
            .expect("recv");
    }
    assert_eq!(got.len(), 100);
    publisher.close().await.expect("close publisher");
    sub.close().await.expect("close subscriber");
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("stop in time")
        .expect("clean stop");
    assert_eq!(
        still_running_after(&pids, Duration::ZERO),
        Vec::<u32>::new()
    );
}

/// Run only as the child of `killing_the_owner_leaves_no_nats_server`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process for killing_the_owner_leaves_no_nats_server"]
async fn owner_process() {
    if std::env::var(OWNER_ENV).is_err() {
        return;
    }
    let server = start().await;
    let pids = server.program_pids().expect("pids");
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("PIDS {}", list.join(" "));
    // Bounded: the parent kills us long before this.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[test]
fn killing_the_owner_leaves_no_nats_server() {
    if !present(&NATS) {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut owner = Command::new(exe)
        .args(["owner_process", "--exact", "--ignored", "--nocapture"])
        .env(OWNER_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the owner");
    let out = owner.stdout.take().expect("stdout");
    // The owner prints its line within its own bounded start; a dead owner ends the stream.
    let pids: Vec<u32> = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("PIDS ")
                .map(|p| p.split(' ').filter_map(|x| x.parse().ok()).collect())
        })
        .expect("the owner printed nats-server's pid");
    assert_eq!(pids.len(), 1, "{pids:?}");
    owner.kill().expect("SIGKILL the owner");
    owner.wait().expect("reap the owner");
    let left = still_running_after(&pids, BOUND);
    assert!(left.is_empty(), "nats-server outlived its owner: {left:?}");
}

#[tokio::test]
async fn a_missing_program_names_its_package() {
    let config = CoreConfig {
        nats_server: "/nonexistent/nats-server".into(),
        ..CoreConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let err = NatsCore::serve(&config, listener, ServerContext::fresh())
        .await
        .expect_err("no program, no server");
    assert!(
        matches!(err, TransportError::MissingProgram { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("apt-get install -y nats-server"),
        "{err}"
    );
    assert!(NatsCore::preflight(&config).is_err());
}
