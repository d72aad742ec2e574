//! The size limit (an oversized message closes its publisher with 1009 and the server keeps
//! serving others) and keepalive (answered pings keep an idle connection open; a peer that
//! never answers is closed with 1011).

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
use futures_util::{SinkExt, StreamExt};
use publish::raw_publish;
use raw::raw;
use subscribe::raw_subscriber;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{ClientContext, ServerHandle, Subscriber, Transport};
use transport_websocket::{WebSocket, WebSocketConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_closes_with_1009() {
    let config = WebSocketConfig {
        max_message_bytes: 1024,
        ..WebSocketConfig::default()
    };
    let (server, server_ctx, addr) = server(&config).await;
    let mut big = raw(&addr, "/topics/t/publish").await;
    bounded("send", big.send(Message::Binary(vec![7u8; 1025].into())))
        .await
        .unwrap();
    let close = loop {
        match bounded("read close", big.next()).await {
            Some(Ok(Message::Close(f))) => break f.expect("close carries a code"),
            Some(Ok(_)) => {}
            other => panic!("expected close 1009, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(
        server_ctx.counters.counter_values()["server_oversize_closes"],
        1
    );

    // A message of exactly the limit still goes through, on a fresh connection.
    let (mut sub, _) = raw_subscriber(&addr, "t").await;
    let mut ok = raw(&addr, "/topics/t/publish").await;
    raw_publish(&mut ok, 0..1, 1024).await;
    match bounded("recv", sub.next()).await {
        Some(Ok(Message::Binary(f))) => assert_eq!(frame_seqs(&f).1, vec![0]),
        other => panic!("expected a data frame, got {other:?}"),
    }
    drop((sub, ok, big));
    bounded("shutdown", server.shutdown()).await.unwrap();
}

/// Short enough that a test sees many pings, long enough that a pong answered late on a
/// loaded 2-core machine (tens of ms at worst) is still in time.
fn keepalive_config() -> WebSocketConfig {
    WebSocketConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(250),
        ..WebSocketConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_pings_keep_an_idle_connection_open() {
    let config = keepalive_config();
    let (server, server_ctx, addr) = server(&config).await;
    let ctx = ClientContext::fresh(0);
    // Our subscriber, idle in recv; it would also give up on a silent server after 350 ms.
    let mut ours = WebSocket::subscriber(&config, &addr, "idle", ctx.clone())
        .await
        .unwrap();
    let receiving = tokio::spawn(async move {
        let mut buf = Vec::new();
        ours.recv(&mut buf).await.map(|n| (n, ours))
    });
    // A raw client reading (and so answering pings) is the clock: 8 pings take more than
    // 800 ms, three times the pong timeout.
    let (mut raw_sub, _) = raw_subscriber(&addr, "idle").await;
    let mut pings = 0;
    while pings < 8 {
        match bounded("ping", raw_sub.next()).await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("an idle connection gets only pings, got {other:?}"),
        }
    }
    let mut publisher = raw(&addr, "/topics/idle/publish").await;
    raw_publish(&mut publisher, 0..1, 64).await;
    let (n, ours) = bounded("our subscriber", receiving).await.unwrap().unwrap();
    assert_eq!(n, 1);
    loop {
        match bounded("raw recv", raw_sub.next()).await {
            Some(Ok(Message::Binary(f))) => break assert_eq!(frame_seqs(&f).1, vec![0]),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("the idle connection must still be open: {other:?}"),
        }
    }
    let s = server_ctx.counters.counter_values();
    assert_eq!(s["server_pong_timeouts"], 0, "{s:?}");
    assert!(s["server_pongs"] >= 8, "{s:?}");
    let c = ctx.counters.counter_values();
    assert_eq!(c["reconnects"], 0, "{c:?}");
    assert!(c["pings"] >= 1, "{c:?}");
    drop((raw_sub, publisher, ours));
    bounded("shutdown", server.shutdown()).await.unwrap();
}

/// Splits unmasked server frames out of `bytes`: (opcode, payload) pairs.
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => panic!("no 8-byte lengths expected here"),
            n => (n as usize, 2),
        };
        frames.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pong_closes_the_connection_with_1011() {
    let config = keepalive_config();
    let (server, server_ctx, addr) = server(&config).await;
    // A hand-written client: upgrades, then reads raw bytes and never answers a ping.
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let upgrade = format!(
        "GET /topics/mute HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    // The server closes the socket after its close frame, which ends this read.
    bounded("server closes", tcp.read_to_end(&mut all))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let body = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let frames = server_frames(&all[body..]);
    let opcodes: Vec<u8> = frames.iter().map(|f| f.0).collect();
    // Text notice, one ping, then close: one ping is outstanding at a time.
    assert_eq!(opcodes, vec![0x1, 0x9, 0x8], "{frames:?}");
    let close = &frames[2].1;
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1011);
    assert_eq!(&close[2..], b"pong timeout");
    assert_eq!(
        server_ctx.counters.counter_values()["server_pong_timeouts"],
        1
    );
    bounded("shutdown", server.shutdown()).await.unwrap();
}
