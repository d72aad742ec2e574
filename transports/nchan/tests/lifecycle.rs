//! The managed nginx's life: every process (master and workers) is gone after a stop and
//! after its owner is killed with SIGKILL; a missing module is named with its package; and a
//! resume past the channel buffer loses exactly what the buffer no longer holds.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use transport_core::conformance::{CutProxy, message};
use transport_core::{
    ClientContext, Envelope, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
    TransportError,
};
use transport_nchan::{NchanConfig, NchanLongPoll, NchanServer, NchanSse, NchanWebSocket};
use transport_test_support::peers::{NCHAN, present};
use transport_test_support::procs::still_running_after;

const BOUND: Duration = Duration::from_secs(10);
/// Set in the child this file runs to be killed: it starts nginx and prints its pids.
const OWNER_ENV: &str = "TRANSPORT_BENCH_NCHAN_OWNER";

async fn start(config: &NchanConfig) -> NchanServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    tokio::time::timeout(
        BOUND,
        NchanLongPoll::serve(config, listener, ServerContext::fresh()),
    )
    .await
    .expect("nginx starts in time")
    .expect("nginx starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_leaves_no_master_or_worker() {
    if !present(&NCHAN) {
        return;
    }
    let config = NchanConfig {
        worker_processes: 2,
        ..NchanConfig::default()
    };
    let server = start(&config).await;
    // Workers are forked as the master starts; both are there by the time one answered, or
    // very soon after.
    let deadline = Instant::now() + BOUND;
    let mut pids = server.program_pids().expect("a program server has pids");
    while pids.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        pids = server.program_pids().expect("pids");
    }
    assert_eq!(pids.len(), 3, "master plus two workers: {pids:?}");
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("stop in time")
        .expect("clean stop");
    assert_eq!(
        still_running_after(&pids, Duration::ZERO),
        Vec::<u32>::new()
    );
}

/// Run only as the child of `killing_the_owner_leaves_no_nginx`: starts nginx with two
/// workers, prints their pids, and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a helper process for killing_the_owner_leaves_no_nginx"]
async fn owner_process() {
    if std::env::var(OWNER_ENV).is_err() {
        return;
    }
    let server = start(&NchanConfig {
        worker_processes: 2,
        ..NchanConfig::default()
    })
    .await;
    let deadline = Instant::now() + BOUND;
    let mut pids = server.program_pids().expect("pids");
    while pids.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        pids = server.program_pids().expect("pids");
    }
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("PIDS {}", list.join(" "));
    // Bounded: the parent kills us long before this.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[test]
fn killing_the_owner_leaves_no_nginx() {
    if !present(&NCHAN) {
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
        .expect("the owner printed nginx's pids");
    assert_eq!(pids.len(), 3, "master plus two workers: {pids:?}");
    owner.kill().expect("SIGKILL the owner");
    owner.wait().expect("reap the owner");
    let left = still_running_after(&pids, BOUND);
    assert!(
        left.is_empty(),
        "nginx processes outlived their owner: {left:?}"
    );
}

#[tokio::test]
async fn a_missing_module_names_its_package() {
    let config = NchanConfig {
        module: "/nonexistent/ngx_nchan_module.so".into(),
        ..NchanConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let err = NchanSse::serve(&config, listener, ServerContext::fresh())
        .await
        .expect_err("no module, no server");
    assert!(
        matches!(err, TransportError::MissingProgram { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("libnginx-mod-nchan") && text.contains("nginx-light"),
        "{text}"
    );
}

/// Resuming past the buffer: with room for 5 messages, a subscriber cut after message 9 that
/// comes back after 20 more were published receives only the 5 newest of them: 15 lost, none
/// duplicated, the rest in order.
async fn resume_past_buffer<T: Transport<Config = NchanConfig, Server = NchanServer>>() {
    let config = NchanConfig {
        message_buffer_length: 5,
        ..NchanConfig::default()
    };
    let server = start(&config).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let direct = server.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let via_proxy = proxy.addr().to_string();
    let sub = T::subscriber(&config, &via_proxy, "gap", ctx.clone());
    let mut sub = tokio::time::timeout(BOUND, sub)
        .await
        .expect("in time")
        .expect("subscribe");
    let mut publisher = T::publisher(&config, &direct, "gap", ctx)
        .await
        .expect("publisher");
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    // One at a time: the buffer of 5 must not drop anything before the gap.
    for seq in 0..10 {
        publisher.publish(message(seq, 64)).await.expect("publish");
        while seen.len() <= seq as usize {
            buf.clear();
            let got = tokio::time::timeout(BOUND, sub.recv(&mut buf)).await;
            got.expect("in time").expect("recv");
            seen.extend(
                buf.iter()
                    .map(|m| Envelope::decode(m).expect("envelope").seq),
            );
        }
    }
    // Cut while no `recv` runs: the subscriber only notices (and reconnects) in its next
    // `recv`, after all 20 are published, so the gap is the same every run.
    proxy.cut_all();
    for seq in 10..30 {
        publisher.publish(message(seq, 64)).await.expect("publish");
    }
    while seen.last() != Some(&29) {
        buf.clear();
        tokio::time::timeout(BOUND, sub.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        seen.extend(
            buf.iter()
                .map(|m| Envelope::decode(m).expect("envelope").seq),
        );
    }
    let expected: Vec<u64> = (0..10).chain(25..30).collect();
    assert_eq!(
        seen,
        expected,
        "{}: the buffer's 5 newest after the gap",
        T::NAME
    );
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    server.shutdown().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_past_the_buffer_loses_exactly_the_gap() {
    if !present(&NCHAN) {
        return;
    }
    resume_past_buffer::<NchanLongPoll>().await;
    resume_past_buffer::<NchanSse>().await;
    resume_past_buffer::<NchanWebSocket>().await;
}
