//! End to end: the `serve --metrics` endpoint on real transports and real sockets, scraped with
//! the harness's own client. Byte counts must come back exactly as the counting wrapper saw them.

#![allow(clippy::unwrap_used)]

mod server_support;

use std::time::Duration;

use tokio::net::TcpListener;
use transport_bench::server::{MetricsServer, MetricsSource, ServerSnapshot, scrape};
use transport_core::{ServerContext, ServerHandle, Transport};

const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// In-process: the scraped wire bytes and counters equal the server's own `WireStats` and
/// `Counters`, exactly, and the process figures are present and plausible.
async fn scrape_equals_in_process_stats<T: Transport>() -> ServerSnapshot {
    let ctx = ServerContext::fresh();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = T::Config::default();
    let server = T::serve(&config, listener, ctx.clone()).await.unwrap();
    let metrics = MetricsServer::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        MetricsSource {
            wire: ctx.wire.clone(),
            counters: ctx.counters.clone(),
            server_port: Some(server.local_addr().port()),
        },
    )
    .unwrap();
    let addr = server.local_addr().to_string();
    server_support::traffic::<T>(&config, &addr, 200, 100).await;
    // Shut the transport down so every connection is closed and its bytes are final; the
    // metrics endpoint keeps serving the same stats.
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("server shuts down in time")
        .unwrap();
    let snap = scrape(&metrics.url(), SCRAPE_TIMEOUT).await.unwrap();
    assert_eq!(snap.wire, ctx.wire.snapshot());
    assert_eq!(snap.counters, ctx.counters.counter_values());
    assert_eq!(snap.gauges, ctx.counters.gauge_values());
    assert!(
        snap.gauges.contains_key("server_retained_messages"),
        "{:?}",
        snap.gauges
    );
    assert!(snap.send_queue_bytes.is_some(), "read from /proc/net/tcp");
    assert!(snap.wire.total_written() >= 200 * 100, "{:?}", snap.wire);
    let p = snap.process.expect("process figures on Linux");
    assert!(p.rss_bytes > 0 && p.rss_peak_bytes >= p.rss_bytes, "{p:?}");
    assert!(
        p.threads >= 1 && p.open_fds >= 3 && p.open_sockets >= 1,
        "{p:?}"
    );
    metrics.shutdown().await.unwrap();
    snap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_scrape_equals_in_process_stats() {
    scrape_equals_in_process_stats::<transport_raw_tcp::RawTcp>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_scrape_equals_in_process_stats_handshake_included() {
    let snap = scrape_equals_in_process_stats::<transport_websocket::WebSocket>().await;
    assert!(snap.wire.handshake_read > 0 && snap.wire.handshake_written > 0);
}
