//! The header the harness stamps on every message, and its fixed binary layout.
//!
//! Transports never read it: to them a message is opaque bytes. It lives in the core crate only
//! so the conformance kit and the harness agree on one layout. The header sits *inside* the
//! scenario's payload size, so "payload bytes" is exactly what the application handed over and
//! everything else on the wire is transport overhead.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the encoded header: publisher (4) + sequence (8) + intended (8) + sent (8).
pub const HEADER_LEN: usize = 28;

/// The filler after the header: byte `i` is `31 i + 7` (mod 256), which repeats every 256.
const FILL: [u8; 256] = {
    let mut fill = [0u8; 256];
    let mut i = 0;
    while i < fill.len() {
        fill[i] = (i as u8).wrapping_mul(31).wrapping_add(7);
        i += 1;
    }
    fill
};

/// Identity and timing of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Which publisher sent it (index within the run).
    pub publisher: u32,
    /// Per-publisher sequence number, starting at 0, without gaps.
    pub seq: u64,
    /// When the open-loop schedule meant it to be sent (ns, [`crate::clock`]).
    pub intended_ns: u64,
    /// When the publisher actually handed it to the transport (ns, [`crate::clock`]).
    pub sent_ns: u64,
}

impl Envelope {
    /// Encodes the header followed by filler up to `payload_len` bytes in total.
    ///
    /// `payload_len` below [`HEADER_LEN`] is raised to it: the harness validates sizes earlier.
    pub fn encode(&self, payload_len: usize) -> Bytes {
        let mut buf = BytesMut::with_capacity(payload_len.max(HEADER_LEN));
        self.encode_into(payload_len, &mut buf);
        buf.freeze()
    }

    /// Appends the same bytes as [`Envelope::encode`] to `buf`, so a batch of messages can be
    /// stamped into one allocation.
    pub fn encode_into(&self, payload_len: usize, buf: &mut BytesMut) {
        buf.reserve(payload_len.max(HEADER_LEN));
        // Built on the stack and appended at once: one capacity check, not four.
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&self.publisher.to_be_bytes());
        header[4..12].copy_from_slice(&self.seq.to_be_bytes());
        header[12..20].copy_from_slice(&self.intended_ns.to_be_bytes());
        header[20..].copy_from_slice(&self.sent_ns.to_be_bytes());
        buf.put_slice(&header);
        // A non-zero pattern so that a transport that compresses cannot make payloads vanish.
        // It repeats every 256 bytes, so it is copied from one table rather than computed per
        // byte (this runs for every message a publisher sends).
        let mut fill = payload_len.saturating_sub(HEADER_LEN);
        while fill > 0 {
            let n = fill.min(FILL.len());
            buf.put_slice(&FILL[..n]);
            fill -= n;
        }
    }

    /// Replaces `out` with `count` messages: this envelope and the ones after it (sequence
    /// numbers counting up, the same times), stamped into one buffer (one allocation for the
    /// batch) and handed out as slices of it. This is how a closed-loop batch is made.
    pub fn encode_batch(&self, count: usize, payload_len: usize, out: &mut Vec<Bytes>) {
        let seqs = (0..count).map(|i| self.seq.wrapping_add(i as u64));
        Envelope::encode_all(seqs.map(|seq| Envelope { seq, ..*self }), payload_len, out);
    }

    /// Replaces `out` with `envelopes`, each encoded as by [`Envelope::encode`], stamped into
    /// one buffer and handed out as slices of it (how an open-loop publisher behind its
    /// schedule stamps the messages that are due, each with its own intended time).
    pub fn encode_all(
        envelopes: impl ExactSizeIterator<Item = Envelope>,
        payload_len: usize,
        out: &mut Vec<Bytes>,
    ) {
        let len = payload_len.max(HEADER_LEN);
        let count = envelopes.len();
        let mut buf = BytesMut::with_capacity(len * count);
        for e in envelopes {
            e.encode_into(payload_len, &mut buf);
        }
        let buf = buf.freeze();
        out.clear();
        out.extend((0..count).map(|i| buf.slice(i * len..(i + 1) * len)));
    }

    /// Decodes the header at the start of `msg`; `None` if it is too short.
    pub fn decode(msg: &[u8]) -> Option<Envelope> {
        let h = msg.get(..HEADER_LEN)?;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut p = [0u8; 4];
        p.copy_from_slice(&h[..4]);
        Some(Envelope {
            publisher: u32::from_be_bytes(p),
            seq: u64_at(4),
            intended_ns: u64_at(12),
            sent_ns: u64_at(20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_layout() {
        let e = Envelope {
            publisher: 0x0102_0304,
            seq: 5,
            intended_ns: 6,
            sent_ns: 7,
        };
        let b = e.encode(30);
        assert_eq!(
            &b[..],
            &[
                1, 2, 3, 4, // publisher
                0, 0, 0, 0, 0, 0, 0, 5, // seq
                0, 0, 0, 0, 0, 0, 0, 6, // intended_ns
                0, 0, 0, 0, 0, 0, 0, 7, // sent_ns
                7, 38, // filler: i * 31 + 7
            ][..]
        );
    }

    #[test]
    fn short_message_does_not_decode() {
        assert_eq!(Envelope::decode(&[0; HEADER_LEN - 1]), None);
    }

    proptest! {
        #[test]
        fn round_trip(publisher: u32, seq: u64, intended_ns: u64, sent_ns: u64, len in 0usize..4096) {
            let e = Envelope { publisher, seq, intended_ns, sent_ns };
            let b = e.encode(len);
            prop_assert_eq!(b.len(), len.max(HEADER_LEN));
            prop_assert_eq!(Envelope::decode(&b), Some(e));
            let mut appended = BytesMut::from(&b"x"[..]);
            e.encode_into(len, &mut appended);
            prop_assert_eq!(&appended[1..], &b[..]);
            let mut batch = Vec::new();
            e.encode_batch(3, len, &mut batch);
            prop_assert_eq!(batch.len(), 3);
            for (i, m) in batch.iter().enumerate() {
                let next = Envelope { seq: seq.wrapping_add(i as u64), ..e };
                prop_assert_eq!(&m[..], &next.encode(len)[..]);
            }
            // The filler is the same per-byte formula however long the message.
            for (i, byte) in b[HEADER_LEN..].iter().enumerate() {
                prop_assert_eq!(*byte, (i as u8).wrapping_mul(31).wrapping_add(7));
            }
        }
    }
}
