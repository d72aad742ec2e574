//! A pong proves delivery to the topic: the server answers a ping only after every message that
//! came before it is in the topic, even when the messages and the ping arrive in one read and
//! the server puts the messages into the topic as one batch.

// Test code: helpers shared by several tests unwrap like the tests themselves do.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/raw.rs"]
mod raw;

use common::{bounded, server};
use futures_util::{SinkExt, StreamExt};
use raw::raw;
use tokio_tungstenite::tungstenite::Message;
use transport_core::ServerHandle;
use transport_core::conformance::message;
use transport_websocket::{WebSocketConfig, proto};

/// The position a resume from `from` starts at, or the close code that refused it.
async fn resume_at(addr: &str, from: u64) -> Result<u64, u16> {
    let mut ws = raw(addr, &format!("/topics/m?from={from}")).await;
    match bounded("notice", ws.next()).await {
        Some(Ok(Message::Text(t))) => Ok(proto::parse_subscribed_notice(&t).unwrap().0),
        Some(Ok(Message::Close(Some(f)))) => Err(f.code.into()),
        other => panic!("expected a notice or a close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pong_follows_every_message_sent_before_its_ping() {
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    let mut publisher = raw(&addr, "/topics/m/publish").await;
    const N: u64 = 1_000;
    for seq in 0..N {
        publisher
            .feed(Message::Binary(message(seq, 100)))
            .await
            .unwrap();
    }
    publisher
        .feed(Message::Ping(b"mark".to_vec().into()))
        .await
        .unwrap();
    bounded("flush", publisher.flush()).await.unwrap();
    loop {
        match bounded("pong", publisher.next()).await {
            Some(Ok(Message::Pong(p))) if &p[..] == b"mark" => break,
            Some(Ok(_)) => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
    // The log's end is exactly N: a resume there is accepted, one past it is refused (4002).
    assert_eq!(resume_at(&addr, N).await, Ok(N));
    assert_eq!(resume_at(&addr, N + 1).await, Err(4002));
    bounded("shutdown", server.shutdown()).await.unwrap();
}
