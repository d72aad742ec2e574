//! Resume: a connection cut in the middle of a run loses nothing and duplicates nothing; a
//! position older than the buffer is refused with 4001 and the skipped messages are counted; a
//! position from another server epoch starts at the oldest message held.

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

use std::collections::BTreeSet;

use bytes::Bytes;
use common::{bounded, server};
use frames::frame_seqs;
use futures_util::StreamExt;
use subscribe::raw_subscriber;
use tokio_tungstenite::tungstenite::Message;
use transport_core::conformance::{CutProxy, message};
use transport_core::envelope::Envelope;
use transport_core::{ClientContext, Publisher, ServerHandle, Subscriber, Transport};
use transport_websocket::{WebSocket, WebSocketConfig, proto};

async fn cut_mid_run(config: WebSocketConfig) {
    const N: u64 = 2000;
    let (server, server_ctx, addr) = server(&config).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    let via_proxy = proxy.addr().to_string();
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &via_proxy, "cut", ctx.clone()),
    )
    .await
    .unwrap();
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &addr, "cut", ctx.clone()),
    )
    .await
    .unwrap();
    // The second half waits for the cut: without that, a fast run (coalesced frames) can
    // hand the subscriber every message before the cut lands, and nothing needs a reconnect.
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<()>();
    let publishing = tokio::spawn(async move {
        for seq in 0..N / 2 {
            publisher.publish(message(seq, 100)).await.unwrap();
        }
        cut_rx.await.unwrap();
        for seq in N / 2..N {
            publisher.publish(message(seq, 100)).await.unwrap();
        }
        publisher.flush().await.unwrap();
        publisher
    });
    let mut seqs = Vec::new();
    let mut buf: Vec<Bytes> = Vec::new();
    let mut cut_tx = Some(cut_tx);
    while (seqs.len() as u64) < N {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        seqs.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
        if seqs.len() >= 500
            && let Some(tx) = cut_tx.take()
        {
            proxy.cut_all();
            tx.send(()).unwrap();
        }
    }
    assert_eq!(
        seqs,
        (0..N).collect::<Vec<_>>(),
        "every message exactly once, in order, across the cut"
    );
    let counters = ctx.counters.counter_values();
    assert!(
        counters["reconnects"] >= 1,
        "the cut forced a reconnect: {counters:?}"
    );
    assert_eq!(counters["gap_messages"], 0);
    assert!(server_ctx.counters.counter_values()["server_resumes"] >= 1);
    let publisher = bounded("publisher", publishing).await.unwrap();
    bounded("publisher close", publisher.close()).await.unwrap();
    bounded("subscriber close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_run_delivers_every_message_exactly_once() {
    cut_mid_run(WebSocketConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_mid_run_with_coalescing_delivers_every_message_exactly_once() {
    cut_mid_run(WebSocketConfig {
        coalesce: true,
        ..WebSocketConfig::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_older_than_buffer_is_refused_and_counted_as_gap() {
    let config = WebSocketConfig {
        resume_buffer_messages: 10,
        ..WebSocketConfig::default()
    };
    let (server, server_ctx, addr) = server(&config).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        WebSocket::subscriber(&config, &proxy.addr().to_string(), "gap", ctx.clone()),
    )
    .await
    .unwrap();
    // A direct witness tells when the server has logged everything published.
    let (mut witness, _) = raw_subscriber(&addr, "gap").await;
    let mut publisher = bounded(
        "publisher",
        WebSocket::publisher(&config, &addr, "gap", ctx.clone()),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    for seq in 0..5 {
        publisher.publish(message(seq, 64)).await.unwrap();
    }
    let mut got = 0;
    while got < 5 {
        got += bounded("recv", sub.recv(&mut buf)).await.unwrap();
    }
    proxy.cut_all();
    for seq in 5..55 {
        publisher.publish(message(seq, 64)).await.unwrap();
    }
    publisher.flush().await.unwrap();
    let mut last = 0;
    while last < 54 {
        if let Some(Ok(Message::Binary(f))) = bounded("witness", witness.next()).await {
            last = *frame_seqs(&f).1.last().unwrap();
        }
    }
    // The subscriber now asks for position 5; the buffer starts at 45.
    buf.clear();
    let mut seqs = BTreeSet::new();
    while seqs.len() < 10 {
        buf.clear();
        bounded("recv after cut", sub.recv(&mut buf)).await.unwrap();
        seqs.extend(buf.iter().map(|m| Envelope::decode(m).unwrap().seq));
    }
    assert_eq!(seqs, (45..55).collect());
    assert_eq!(sub.next_position(), 55);
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["gap_messages"], 40, "{counters:?}");
    assert_eq!(counters["reconnects"], 1, "{counters:?}");
    assert_eq!(
        server_ctx.counters.counter_values()["server_gap_refusals"],
        1
    );
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_beyond_the_end_is_refused_with_4002() {
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    let mut ws = raw::raw(&addr, "/topics/empty?from=5").await;
    match bounded("close", ws.next()).await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 4002);
            assert_eq!(f.reason.as_str(), "next=0");
        }
        other => panic!("expected close 4002, got {other:?}"),
    }
    drop(ws);
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_from_another_epoch_starts_at_the_oldest_message() {
    let (server, server_ctx, addr) = server(&WebSocketConfig::default()).await;
    let (mut witness, _) = raw_subscriber(&addr, "ep").await;
    let mut publisher = raw::raw(&addr, "/topics/ep/publish").await;
    publish::raw_publish(&mut publisher, 0..5, 64).await;
    let mut last = 0;
    while last < 4 {
        if let Some(Ok(Message::Binary(f))) = bounded("witness", witness.next()).await {
            last = *frame_seqs(&f).1.last().unwrap();
        }
    }
    // Reads the notice, then frames until `n` messages arrived: (position, epoch, seqs).
    async fn resume(addr: &str, query: &str, n: usize) -> (u64, Option<u64>, Vec<u64>) {
        let mut ws = raw::raw(addr, &format!("/topics/ep?{query}")).await;
        let notice = match bounded("notice", ws.next()).await {
            Some(Ok(Message::Text(t))) => t,
            other => panic!("expected the subscribed notice, got {other:?}"),
        };
        let (position, epoch) = proto::parse_subscribed_notice(&notice).unwrap();
        let mut seqs = Vec::new();
        while seqs.len() < n {
            if let Some(Ok(Message::Binary(f))) = bounded("frame", ws.next()).await {
                seqs.extend(frame_seqs(&f).1);
            }
        }
        (position, epoch, seqs)
    }
    let (_, epoch, _) = resume(&addr, "from=5", 0).await;
    let epoch = epoch.expect("the notice names the epoch");
    assert!(epoch != 0 && epoch < 1 << 53, "{epoch}");
    // This server's epoch: resumes where asked.
    let same = resume(&addr, &format!("from=3&epoch={epoch}"), 2).await;
    assert_eq!(same, (3, Some(epoch), vec![3, 4]));
    // Another epoch: position 3 belongs to an earlier server, so everything held is replayed.
    let other = if epoch == 1 { 2 } else { 1 };
    let reset = resume(&addr, &format!("from=3&epoch={other}"), 5).await;
    assert_eq!(reset, (0, Some(epoch), vec![0, 1, 2, 3, 4]));
    // Even a position beyond the end is no 4002 then: it is not this server's position.
    let beyond = resume(&addr, &format!("from=99&epoch={other}"), 5).await;
    assert_eq!(beyond.0, 0);
    assert_eq!(
        server_ctx.counters.counter_values()["server_epoch_resets"],
        2
    );
    drop(publisher);
    bounded("shutdown", server.shutdown()).await.unwrap();
}
