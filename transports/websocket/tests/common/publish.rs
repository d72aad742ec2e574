//! Publishing harness-shaped messages through a raw publisher connection.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use transport_core::conformance::message;

use crate::common::bounded;
use crate::raw::Raw;

/// Publishes `seqs`, `len` bytes each, through a raw publisher connection.
pub async fn raw_publish(ws: &mut Raw, seqs: std::ops::Range<u64>, len: usize) {
    for seq in seqs {
        bounded("raw publish", ws.send(Message::Binary(message(seq, len))))
            .await
            .expect("raw publish");
    }
}
