//! Broken connections and broker restarts: publishers resend what was not acknowledged,
//! subscribers reconnect and resume from their positions.

use std::collections::BTreeSet;

use tokio::net::TcpListener;
use transport_core::conformance::CutProxy;
use transport_core::{ClientContext, Envelope, ServerContext, ServerHandle, Subscriber, Transport};

use super::util::*;
use crate::{PullLog, PullLogConfig, PullLogSubscriber, Storage};

/// Receives until every seq in `0..n` has arrived; returns how many arrivals were repeats.
async fn receive_all(sub: &mut PullLogSubscriber, n: u64) -> usize {
    let mut seen = BTreeSet::new();
    let mut arrivals = 0;
    let mut buf = Vec::new();
    while (seen.len() as u64) < n {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        for m in &buf {
            let seq = Envelope::decode(m).unwrap().seq;
            assert!(seq < n, "unexpected seq {seq}");
            seen.insert(seq);
            arrivals += 1;
        }
    }
    arrivals - seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_resends_after_its_connection_is_cut() {
    let config = config(1);
    let (server, addr) = broker(&config).await;
    let proxy = CutProxy::start(addr.parse().unwrap()).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = subscriber(&config, &addr, "cut", 0).await;
    let mut p = bounded(
        "publisher",
        PullLog::publisher(&config, &proxy.addr().to_string(), "cut", ctx.clone()),
    )
    .await
    .unwrap();
    publish(&mut p, 0, 0..50).await;
    proxy.cut_all();
    publish(&mut p, 0, 50..100).await;
    let dups = receive_all(&mut sub, 100).await;
    eprintln!("duplicates after a publisher cut: {dups}");
    assert!(ctx.counters.counter_values()["publisher_reconnects"] >= 1);
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_behind_a_cut_resume_with_the_configured_backoff() {
    let mut config = config(2);
    config.reconnect_base = std::time::Duration::from_millis(2);
    config.reconnect_cap = std::time::Duration::from_millis(20);
    let (server, addr) = broker(&config).await;
    let proxy = CutProxy::start(addr.parse().unwrap()).await;
    let via = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, &via, "both", ctx.clone()),
    )
    .await
    .unwrap();
    let mut p = bounded(
        "publisher",
        PullLog::publisher(&config, &via, "both", ctx.clone()),
    )
    .await
    .unwrap();
    publish(&mut p, 0, 0..50).await;
    assert_eq!(receive_all(&mut sub, 50).await, 0);
    proxy.cut_all();
    publish(&mut p, 0, 50..100).await;
    // `receive_all` wants every seq below its bound, and 0..50 were taken already: count
    // the arrivals of 50..100 here.
    let mut seen = BTreeSet::new();
    let mut buf = Vec::new();
    while seen.len() < 50 {
        buf.clear();
        bounded("recv after cut", sub.recv(&mut buf)).await.unwrap();
        for m in &buf {
            let seq = Envelope::decode(m).unwrap().seq;
            if seq >= 50 {
                seen.insert(seq);
            }
        }
    }
    let counters = ctx.counters.counter_values();
    assert!(counters["subscriber_reconnects"] >= 1, "{counters:?}");
    assert!(counters["publisher_reconnects"] >= 1, "{counters:?}");
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

/// Starts a broker for `config` on `addr` (a port this test bound before).
async fn restart(config: &PullLogConfig, addr: &str) -> crate::PullLogServer {
    let listener = bounded("rebind", TcpListener::bind(addr)).await.unwrap();
    bounded(
        "serve",
        PullLog::serve(config, listener, ServerContext::fresh()),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_through_a_broker_restart_with_file_storage() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(2);
    config.broker.storage = Storage::File;
    config.broker.data_dir = Some(dir.path().to_owned());
    let (server, addr) = broker(&config).await;
    let mut sub = subscriber(&config, &addr, "restart", 0).await;
    let mut p = publisher(&config, &addr, "restart", 0).await;
    publish(&mut p, 0, 0..30).await;
    assert_eq!(receive_all(&mut sub, 30).await, 0);

    bounded("shutdown", server.shutdown()).await.unwrap();
    let server = restart(&config, &addr).await;
    publish(&mut p, 0, 30..60).await;
    let mut seen = BTreeSet::new();
    let mut buf = Vec::new();
    while seen.len() < 30 {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        seen.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
    }
    assert_eq!(
        seen,
        (30..60).collect(),
        "resumes at its position in the kept log"
    );
    bounded("close", sub.close()).await.unwrap();
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_restarts_at_the_log_start_after_an_empty_restart() {
    let config = config(1);
    let (server, addr) = broker(&config).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, &addr, "amnesia", ctx.clone()),
    )
    .await
    .unwrap();
    let mut p = publisher(&config, &addr, "amnesia", 0).await;
    publish(&mut p, 0, 0..40).await;
    assert_eq!(receive_all(&mut sub, 40).await, 0);

    // Memory storage: the restarted broker's log is a new incarnation (a new topic id), so
    // the subscriber starts it from offset 0 instead of its old position 40.
    bounded("shutdown", server.shutdown()).await.unwrap();
    let server = restart(&config, &addr).await;
    publish(&mut p, 0, 40..45).await;
    let mut seqs = Vec::new();
    let mut buf = Vec::new();
    while seqs.len() < 5 {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        seqs.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
    }
    assert_eq!(seqs, (40..45).collect::<Vec<_>>());
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["epoch_resets"], 1);
    assert_eq!(
        counters["offset_resets"], 0,
        "the id told, before any fetch was out of range"
    );
    assert!(counters["subscriber_reconnects"] >= 1);
    bounded("close", sub.close()).await.unwrap();
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_member_rejoins_after_an_empty_restart() {
    let mut config = config(1);
    config.group = Some("survivors".into());
    config.commit = crate::CommitMode::AfterBatch;
    config.heartbeat_interval = std::time::Duration::from_millis(100);
    config.fetch_max_wait = std::time::Duration::from_millis(100);
    let (server, addr) = broker(&config).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, &addr, "group-restart", ctx.clone()),
    )
    .await
    .unwrap();
    let mut p = publisher(&config, &addr, "group-restart", 0).await;
    publish(&mut p, 0, 0..20).await;
    assert_eq!(receive_all(&mut sub, 20).await, 0);

    bounded("shutdown", server.shutdown()).await.unwrap();
    let server = restart(&config, &addr).await;
    publish(&mut p, 0, 20..30).await;
    let mut seen = BTreeSet::new();
    let mut buf = Vec::new();
    while seen.len() < 10 {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        seen.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
    }
    assert_eq!(
        seen,
        (20..30).collect(),
        "nothing published after the restart is skipped"
    );
    bounded("close", sub.close()).await.unwrap();
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
    eprintln!("counters: {:?}", ctx.counters.counter_values());
}
