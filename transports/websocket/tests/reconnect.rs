//! Publisher reconnects: a cut in the middle of a stream loses and repeats nothing (the server
//! says how many of the publisher's session it has, and only the rest is sent again); a server
//! restart (close 1001) loses nothing the publisher handed over, because every unproven message
//! (no pong for its mark yet) is sent again to the new server, which does not know the session.
//! Those resent messages may arrive twice: counted, not lost.
//!
//! Subscriber restarts: whether the subscriber comes back before the restarted server has
//! published anything or after it has published past the subscriber's old position, the server
//! epoch makes it read the new topic from its start, and the reset is counted.

// Test code: helpers shared by several tests unwrap like the tests themselves do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, server};
use tokio::net::TcpListener;
use transport_core::conformance::{CutProxy, message};
use transport_core::envelope::Envelope;
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
};
use transport_websocket::{WebSocket, WebSocketConfig};

fn config() -> WebSocketConfig {
    WebSocketConfig {
        reconnect_base: Duration::from_millis(5),
        reconnect_cap: Duration::from_millis(50),
        ..WebSocketConfig::default()
    }
}

/// Receives until every seq in `want` arrived; returns how many arrivals were repeats of
/// seqs in `want`.
async fn receive<S: Subscriber>(sub: &mut S, want: std::ops::Range<u64>) -> usize {
    let mut seen = BTreeSet::new();
    let mut arrivals = 0;
    let mut buf = Vec::new();
    while (seen.len() as u64) < want.end - want.start {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        for m in &buf {
            let seq = Envelope::decode(m).unwrap().seq;
            if want.contains(&seq) {
                seen.insert(seq);
                arrivals += 1;
            }
        }
    }
    arrivals - seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_while_publishing_loses_nothing() {
    const N: u64 = 3000;
    let config = config();
    let (server, _, _) = server(&config).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let via = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &via, "cut", ctx.clone()),
    )
    .await
    .unwrap();
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &via, "cut", ctx.clone()),
    )
    .await
    .unwrap();
    let (tx, mut halfway) = tokio::sync::oneshot::channel();
    let publishing = tokio::spawn(async move {
        let mut tx = Some(tx);
        for seq in 0..N {
            publisher.publish(message(seq, 100)).await.unwrap();
            if seq == N / 3 {
                let _ = tx.take().map(|t| t.send(()));
                // Let the cut land while this publisher is still writing.
                tokio::task::yield_now().await;
            }
        }
        publisher.flush().await.unwrap();
        publisher.close().await.unwrap();
    });
    bounded("halfway", &mut halfway).await.unwrap();
    proxy.cut_all();
    let dups = receive(&mut sub, 0..N).await;
    bounded("publisher", publishing).await.unwrap();
    let counters = ctx.counters.counter_values();
    eprintln!("duplicates after a cut: {dups}; {counters:?}");
    assert_eq!(dups, 0, "the session count leaves nothing to resend twice");
    assert!(counters["publisher_reconnects"] >= 1, "{counters:?}");
    assert!(counters["reconnects"] >= 1, "{counters:?}");
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_subscriber_ride_through_a_server_restart() {
    let config = config();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = WebSocket::serve(&config, listener, ServerContext::fresh())
        .await
        .unwrap();
    let text = addr.to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &text, "restart", ctx.clone()),
    )
    .await
    .unwrap();
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &text, "restart", ctx.clone()),
    )
    .await
    .unwrap();
    for seq in 0..50 {
        publisher.publish(message(seq, 100)).await.unwrap();
    }
    bounded("flush", publisher.flush()).await.unwrap();
    assert_eq!(receive(&mut sub, 0..50).await, 0);
    assert_eq!(sub.next_position(), 50);

    // The server goes away (close 1001 to every client) and comes back empty on the same port.
    bounded("shutdown", server.shutdown()).await.unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let server = WebSocket::serve(&config, listener, ServerContext::fresh())
        .await
        .unwrap();
    // This ordering: the subscriber finds the new, empty topic first (the next test publishes
    // first).
    let receiving = tokio::spawn(async move {
        receive(&mut sub, 50..100).await;
        sub
    });
    let resets = ctx.counters.counter("position_resets");
    bounded("position reset", async {
        while resets.get() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for seq in 50..100 {
        bounded(
            "publish after restart",
            publisher.publish(message(seq, 100)),
        )
        .await
        .unwrap();
    }
    bounded("flush after restart", publisher.flush())
        .await
        .unwrap();
    let sub = bounded("receive after restart", receiving).await.unwrap();
    let counters = ctx.counters.counter_values();
    assert!(counters["publisher_reconnects"] >= 1, "{counters:?}");
    assert_eq!(counters["publisher_epoch_resets"], 1, "{counters:?}");
    assert_eq!(counters["position_resets"], 1, "{counters:?}");
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_past_the_old_position_is_read_from_its_start() {
    // The old topic reaches position 50; the restarted server publishes 80 before the
    // subscriber reconnects, so its end (80) is past the subscriber's position (50).
    const OLD: u64 = 50;
    const NEW: u64 = 80;
    let config = config();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = WebSocket::serve(&config, listener, ServerContext::fresh())
        .await
        .unwrap();
    let text = addr.to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &text, "ahead", ctx.clone()),
    )
    .await
    .unwrap();
    let old_epoch = sub.epoch().expect("the notice names the epoch");
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &text, "ahead", ctx.clone()),
    )
    .await
    .unwrap();
    for seq in 0..OLD {
        publisher.publish(message(seq, 100)).await.unwrap();
    }
    bounded("flush", publisher.flush()).await.unwrap();
    assert_eq!(receive(&mut sub, 0..OLD).await, 0);
    assert_eq!(sub.next_position(), OLD);

    // The subscriber does not read while the server restarts and takes NEW messages: it
    // reconnects only at its next `recv`.
    bounded("shutdown", server.shutdown()).await.unwrap();
    let listener = TcpListener::bind(addr).await.unwrap();
    let server_ctx = ServerContext::fresh();
    let server = WebSocket::serve(&config, listener, server_ctx.clone())
        .await
        .unwrap();
    for seq in OLD..OLD + NEW {
        bounded(
            "publish after restart",
            publisher.publish(message(seq, 100)),
        )
        .await
        .unwrap();
    }
    bounded("flush after restart", publisher.flush())
        .await
        .unwrap();

    // Every message of the new server, from its first; resends of the publisher may repeat
    // some (distinct positions), which `receive` tolerates.
    receive(&mut sub, OLD..OLD + NEW).await;
    assert!(sub.next_position() >= NEW, "{}", sub.next_position());
    assert_ne!(sub.epoch(), Some(old_epoch));
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["position_resets"], 1, "{counters:?}");
    assert_eq!(counters["gap_messages"], 0, "{counters:?}");
    assert_eq!(
        server_ctx.counters.counter_values()["server_epoch_resets"],
        1
    );
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}
