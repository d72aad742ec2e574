//! Helpers shared by the behaviour tests: a server on a fresh port, raw tokio-tungstenite clients
//! that follow the documented protocol (not our client), and message builders.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use transport_core::envelope::Envelope;
use transport_core::{ServerContext, Transport};
use transport_websocket::{WebSocket, WebSocketConfig, WebSocketServer, proto};

/// Bound on every wait in these tests.
pub const BOUND: Duration = Duration::from_secs(20);

/// A raw WebSocket client connection.
pub type Raw = WebSocketStream<TcpStream>;

/// Awaits `f` within [`BOUND`], panicking with `what` otherwise.
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Starts a server with `config` on 127.0.0.1:0.
pub async fn server(config: &WebSocketConfig) -> (WebSocketServer, ServerContext, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ctx = ServerContext::fresh();
    let server = WebSocket::serve(config, listener, ctx.clone())
        .await
        .expect("server starts");
    let addr = transport_core::ServerHandle::local_addr(&server).to_string();
    (server, ctx, addr)
}

/// Opens a raw WebSocket on `path`.
pub async fn raw(addr: &str, path: &str) -> Raw {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (ws, _) = bounded(
        "raw upgrade",
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp),
    )
    .await
    .expect("upgrade");
    ws
}

/// Opens a raw subscriber and returns it with the position from the "subscribed" notice.
pub async fn raw_subscriber(addr: &str, topic: &str) -> (Raw, u64) {
    let mut ws = raw(addr, &format!("/topics/{topic}")).await;
    match bounded("notice", ws.next()).await {
        Some(Ok(Message::Text(t))) => {
            let (pos, _epoch) = proto::parse_subscribed_notice(&t).expect("notice format");
            (ws, pos)
        }
        other => panic!("expected the subscribed notice, got {other:?}"),
    }
}

pub use transport_core::conformance::message;

/// The harness sequence numbers inside a data frame, and its first topic position.
pub fn frame_seqs(frame: &Bytes) -> (u64, Vec<u64>) {
    let mut msgs = Vec::new();
    let first = proto::decode_frame(frame, &mut msgs).expect("frame decodes");
    let seqs = msgs
        .iter()
        .map(|m| Envelope::decode(m).expect("envelope").seq)
        .collect();
    (first, seqs)
}

/// Publishes `seqs` through a raw publisher connection.
pub async fn raw_publish(ws: &mut Raw, seqs: std::ops::Range<u64>, len: usize) {
    for seq in seqs {
        bounded("raw publish", ws.send(Message::Binary(message(seq, len))))
            .await
            .expect("raw publish");
    }
}
