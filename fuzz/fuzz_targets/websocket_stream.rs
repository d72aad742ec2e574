//! A WebSocket server connection's input as it arrives: the upgrade request head, then, past
//! it, tungstenite's frames with the limits a server connection gets (a 64 KiB message limit
//! here), in pieces; and our data frame inside each binary message (the subscriber's decoder:
//! first position, then length-prefixed messages) and the text notices. Input that is not an
//! accepted upgrade is read as frames from its first byte, so frames are fuzzed either way.
//! Seeded with what our clients and Python's `websockets` send. Invariants: no message over
//! the limit is handed on and no frame header makes the stream allocate past 8 MiB; data
//! frames and notices round-trip (decode → encode).
#![no_main]

use bytes::Bytes;
use futures_util::StreamExt;
use fuzz_support::{Pieces, block_on, cap_allocations};
use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::tungstenite::Message;
use transport_websocket::WebSocketConfig;
use transport_websocket::fuzzing::{parse_head, server_stream, server_ws_config};
use transport_websocket::proto;

cap_allocations!(8 << 20);

const MAX_MESSAGE: usize = 64 * 1024;

fn check_frame(b: &Bytes) {
    let mut msgs = Vec::new();
    if let Ok(first) = proto::decode_frame(b, &mut msgs) {
        assert_eq!(
            proto::encode_frame(first, &msgs),
            *b,
            "data frame round trip"
        );
        assert_eq!(proto::frame_len(&msgs), b.len());
    }
}

fn check_text(t: &str) {
    if let Some((position, Some(epoch))) = proto::parse_subscribed_notice(t) {
        let again = proto::subscribed_notice(position, epoch);
        assert_eq!(
            proto::parse_subscribed_notice(&again),
            Some((position, Some(epoch)))
        );
    }
    if let Some((accepted, epoch)) = proto::parse_publish_notice(t) {
        let again = proto::publish_notice(accepted, epoch);
        assert_eq!(proto::parse_publish_notice(&again), Some((accepted, epoch)));
    }
    let _ = proto::parse_position_reason(t, "from");
}

fuzz_target!(|data: &[u8]| {
    let frames = match parse_head(data) {
        Some((n, Ok(_))) => &data[n..],
        _ => data,
    };
    let config = WebSocketConfig {
        max_message_bytes: MAX_MESSAGE,
        read_buffer_bytes: 4096,
        ..WebSocketConfig::default()
    };
    let ws_config = server_ws_config(&config);
    block_on(async {
        let mut ws = server_stream(Pieces::varied(frames), &[], ws_config).await;
        while let Some(Ok(msg)) = ws.next().await {
            assert!(
                msg.len() <= MAX_MESSAGE,
                "a {}-byte message passed the limit",
                msg.len()
            );
            match msg {
                Message::Binary(b) => check_frame(&b),
                Message::Text(t) => check_text(t.as_str()),
                _ => {}
            }
        }
    });
});
