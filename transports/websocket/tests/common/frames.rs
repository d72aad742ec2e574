//! Decoding the data frames a raw subscriber receives.

use bytes::Bytes;
use transport_core::envelope::Envelope;
use transport_websocket::proto;

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
