//! Publisher sessions: after a cut the publisher resends exactly what the server did not
//! receive, so the subscriber gets every message once; on the wire, the server counts a
//! session's messages across connections, supersedes a half-open predecessor before it tells a
//! successor the count, and leaves publishers without `session=` as they were.

// Test code: helpers shared by several tests unwrap like the tests themselves do.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/frames.rs"]
mod frames;
#[path = "common/publish.rs"]
mod publish;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/subscribe.rs"]
mod subscribe;

use std::time::Duration;

use common::{bounded, server};
use frames::frame_seqs;
use futures_util::StreamExt;
use publish::raw_publish;
use raw::{Raw, raw};
use subscribe::raw_subscriber;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::conformance::{CutProxy, message};
use transport_core::envelope::Envelope;
use transport_core::{ClientContext, Publisher, ServerHandle, Subscriber, Transport};
use transport_websocket::{WebSocket, WebSocketConfig, proto};

fn config() -> WebSocketConfig {
    WebSocketConfig {
        reconnect_base: Duration::from_millis(5),
        reconnect_cap: Duration::from_millis(50),
        ..WebSocketConfig::default()
    }
}

/// Receives until `last` arrives; returns the seqs in arrival order.
async fn receive_until<S: Subscriber>(sub: &mut S, last: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut buf = Vec::new();
    while seqs.last() != Some(&last) {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        seqs.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
    }
    seqs
}

// One thread on purpose: the proxy's aborted relays cannot run, and so cannot close anything,
// until this task yields, which makes the writes right after the cut land in dead sockets.
#[tokio::test]
async fn a_cut_resends_exactly_what_the_server_missed() {
    // Reach the server (and the subscriber) before the cut, unproven by any pong.
    const SEEN: u64 = 50;
    // Written after the cut, before the publisher can notice.
    const DEAD: u64 = 20;
    const N: u64 = 200;
    let config = config();
    let (server, server_ctx, _) = server(&config).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let via = proxy.addr().to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &via, "exact", ctx.clone()),
    )
    .await
    .unwrap();
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &via, "exact", ctx.clone()),
    )
    .await
    .unwrap();
    for seq in 0..SEEN {
        let msg = message(seq, 100);
        bounded("publish", publisher.publish(msg)).await.unwrap();
    }
    let mut seqs = receive_until(&mut sub, SEEN - 1).await;

    proxy.cut_all();
    let reconnects = ctx.counters.counter("publisher_reconnects");
    for seq in SEEN..SEEN + DEAD {
        let msg = message(seq, 100);
        bounded("publish", publisher.publish(msg)).await.unwrap();
    }
    assert_eq!(reconnects.get(), 0, "the cut went unnoticed so far");
    // The publish during which the publisher reconnected; its message is part of the resend.
    let mut noticed = None;
    for seq in SEEN + DEAD..N {
        let msg = message(seq, 100);
        bounded("publish", publisher.publish(msg)).await.unwrap();
        if noticed.is_none() && reconnects.get() > 0 {
            noticed = Some(seq);
        }
    }
    bounded("flush", publisher.flush()).await.unwrap();
    // Noticed only by the flush: everything since the cut was missing.
    let missing = noticed.map_or(N, |seq| seq + 1) - SEEN;

    seqs.extend(receive_until(&mut sub, N - 1).await);
    assert_eq!(
        seqs,
        (0..N).collect::<Vec<_>>(),
        "every message once, in order"
    );
    let counters = ctx.counters.counter_values();
    eprintln!("missing {missing}; {counters:?}");
    assert_eq!(counters["publisher_reconnects"], 1, "{counters:?}");
    assert_eq!(
        counters["publisher_resent_messages"], missing,
        "{counters:?}"
    );
    assert!(missing >= DEAD, "{missing}");
    assert_eq!(counters["publisher_session_resets"], 0, "{counters:?}");
    assert_eq!(counters["publisher_epoch_resets"], 0, "{counters:?}");
    let server_counters = server_ctx.counters.counter_values();
    assert_eq!(server_counters["server_session_resumes"], 1);
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

/// Opens a raw publisher of session `id` on `topic` and returns it with its notice.
async fn raw_session(addr: &str, topic: &str, id: u64) -> (Raw, Option<u64>, u64) {
    let mut ws = raw(addr, &format!("/topics/{topic}/publish?session={id}")).await;
    match bounded("notice", ws.next()).await {
        Some(Ok(Message::Text(t))) => {
            let (accepted, epoch) = proto::parse_publish_notice(&t).expect("notice format");
            (ws, accepted, epoch)
        }
        other => panic!("expected the publish notice, got {other:?}"),
    }
}

/// Receives data frames until `n` messages arrived; returns (position, seq) pairs.
async fn receive_raw(sub: &mut Raw, n: usize) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    while got.len() < n {
        match bounded("frame", sub.next()).await {
            Some(Ok(Message::Binary(b))) => {
                let (first, seqs) = frame_seqs(&b);
                got.extend((first..).zip(seqs));
            }
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected a data frame, got {other:?}"),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_counts_a_session_across_connections_and_supersedes_the_old_one() {
    let (server, server_ctx, addr) = server(&WebSocketConfig::default()).await;
    let (mut sub, _) = raw_subscriber(&addr, "s").await;
    let (mut a, accepted, epoch) = raw_session(&addr, "s", 42).await;
    assert_eq!(accepted, None, "a new session");
    raw_publish(&mut a, 0..5, 64).await;
    assert_eq!(
        receive_raw(&mut sub, 5).await,
        (0..5).map(|i| (i, i)).collect::<Vec<_>>()
    );

    // `a` stays open, as a connection whose break the server has not noticed would.
    let (mut b, accepted, again) = raw_session(&addr, "s", 42).await;
    assert_eq!((accepted, again), (Some(5), epoch));
    match bounded("superseded close", a.next()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Policy),
        other => panic!("expected close 1008, got {other:?}"),
    }
    raw_publish(&mut b, 5..7, 64).await;
    assert_eq!(receive_raw(&mut sub, 2).await, vec![(5, 5), (6, 6)]);
    // A clean close ends the connection before the next one claims the session.
    bounded("close", b.close(None)).await.unwrap();
    while let Some(Ok(_)) = bounded("close reply", b.next()).await {}

    let (c, accepted, _) = raw_session(&addr, "s", 42).await;
    assert_eq!(accepted, Some(7));
    let (other, accepted, _) = raw_session(&addr, "other-topic", 42).await;
    assert_eq!(accepted, None, "a session is one publisher on one topic");
    drop((c, other, sub));
    let counters = server_ctx.counters.counter_values();
    assert_eq!(counters["server_session_resumes"], 2, "{counters:?}");
    assert_eq!(counters["server_superseded_publishers"], 1, "{counters:?}");
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_without_a_session_gets_no_notice() {
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    let (mut sub, _) = raw_subscriber(&addr, "plain").await;
    let mut publisher = raw(&addr, "/topics/plain/publish").await;
    raw_publish(&mut publisher, 0..3, 64).await;
    assert_eq!(receive_raw(&mut sub, 3).await.len(), 3);
    drop(sub);
    // The first thing this publisher hears is the shutdown's close.
    let shutdown = tokio::spawn(server.shutdown());
    match bounded("close", publisher.next()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("expected close 1001 and nothing before it, got {other:?}"),
    }
    // Reading on sends tungstenite's close reply.
    while let Some(Ok(_)) = bounded("close reply", publisher.next()).await {}
    bounded("shutdown", shutdown).await.unwrap().unwrap();
}
