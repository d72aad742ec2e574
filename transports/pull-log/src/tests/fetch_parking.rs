//! Fetch parking: a fetch returns as soon as `fetch_min_bytes` are there, or after
//! `fetch_max_wait` with nothing.

use std::time::{Duration, Instant};

use transport_core::{Publisher, ServerHandle, Subscriber};

use super::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_as_soon_as_min_bytes_are_there() {
    let mut config = config(1);
    config.fetch_max_wait = Duration::from_secs(60);
    let (server, addr) = broker(&config).await;
    let mut sub = subscriber(&config, &addr, "park", 0).await;
    let mut p = publisher(&config, &addr, "park", 0).await;
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let n = sub.recv(&mut buf).await.unwrap();
        (n, sub)
    });
    publish(&mut p, 0, 0..1).await;
    // Far below the 60 s max wait: the parked fetch was answered by the new record.
    let (n, sub) = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    bounded("close", sub.close()).await.unwrap();
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_min_bytes_to_accumulate() {
    let mut config = config(1);
    config.fetch_max_wait = Duration::from_secs(60);
    // One 64-byte message is a 133-byte batch: three of them pass 350 bytes, two do not.
    config.fetch_min_bytes = 350;
    let (server, addr) = broker(&config).await;
    let mut sub = subscriber(&config, &addr, "accumulate", 0).await;
    let mut p = publisher(&config, &addr, "accumulate", 0).await;
    let mut reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let n = sub.recv(&mut buf).await.unwrap();
        (n, sub)
    });
    publish(&mut p, 0, 0..1).await;
    publish(&mut p, 0, 1..2).await;
    // Bounded check that the fetch is still parked (polling the handle does not cancel it).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut reader)
            .await
            .is_err()
    );
    publish(&mut p, 0, 2..3).await;
    let (n, sub) = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 3);
    bounded("close", sub.close()).await.unwrap();
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_empty_after_max_wait_and_counts_it() {
    let mut config = config(2);
    config.fetch_max_wait = Duration::from_millis(300);
    let (server, addr) = broker(&config).await;
    let ctx = transport_core::ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        <crate::PullLog as transport_core::Transport>::subscriber(
            &config,
            &addr,
            "idle",
            ctx.clone(),
        ),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let n = bounded("recv", sub.recv(&mut buf)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(n, 0);
    assert!(
        waited >= Duration::from_millis(290),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["fetches"], 1);
    assert_eq!(counters["empty_fetches"], 1);
    assert_eq!(ctx.counters.distributions()["records_per_fetch"].max(), 0);
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}
