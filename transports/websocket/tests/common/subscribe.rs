//! A raw subscriber: opens the topic and reads the "subscribed" notice the protocol promises.

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use transport_websocket::proto;

use crate::common::bounded;
use crate::raw::{Raw, raw};

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
