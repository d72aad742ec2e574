//! The handshake and control frames shared by client and server, and the codec both sides use.
//!
//! Every frame is a 4-byte big-endian length and a body. Only the first frame of a connection
//! and its reply carry positions; messages afterwards are bare frames, so the steady-state cost
//! stays exactly 4 bytes per message per hop. Positions are implicit: both ends count frames.
//!
//! - Publisher hello: `P`, session id (u64), topic. The session id outlives connections, so a
//!   reconnecting publisher learns how many of its messages the server relayed.
//! - Subscriber hello: `S`, epoch (u64), from (u64), topic. Epoch 0 asks for a new subscription
//!   at the live edge; otherwise `from` is the position of the next message the client wants,
//!   valid in the server incarnation named by `epoch`.
//! - Reply to either: `0x00`, the server's epoch (u64), a position (u64): for a publisher, the
//!   number of its session's messages relayed so far (`u64::MAX` if the server does not know the
//!   session); for a subscriber, the position of the first message it will receive.
//! - Publisher sync: an empty frame (so messages are never empty). The server answers with an 8-byte frame holding the count of
//!   the session's relayed messages, after relaying everything sent before the sync.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

/// Bytes of framing per message per hop.
pub const FRAME_HEADER_LEN: usize = 4;
/// First byte of the server's reply to a hello.
pub const ACK: u8 = 0;
/// Longest topic name accepted in a hello frame.
pub const MAX_TOPIC_LEN: usize = 255;
/// Longest hello body: role, two u64 fields, topic.
pub const MAX_HELLO_LEN: usize = 1 + 16 + MAX_TOPIC_LEN;
/// Length of the reply to a hello.
pub const ACK_LEN: usize = 1 + 16;
/// The position in a publisher's hello reply when the server does not know the session (a
/// first connection, or a server that forgot it): nothing can be assumed relayed.
pub const UNKNOWN_SESSION: u64 = u64::MAX;
/// Length of the reply to a publisher sync.
pub const SYNC_REPLY_LEN: usize = 8;

/// What a client declares in its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    /// Sends messages, as part of a session that survives reconnects.
    Publisher {
        /// Chosen by the client, random.
        session: u64,
    },
    /// Receives every message of its topic from a position on.
    Subscriber {
        /// The server incarnation `from` belongs to; 0 for a new subscription.
        epoch: u64,
        /// Position of the next message wanted.
        from: u64,
    },
}

/// The codec for both directions: 4-byte big-endian length, then the body.
pub fn codec(max_frame_bytes: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(FRAME_HEADER_LEN)
        .max_frame_length(max_frame_bytes)
        .new_codec()
}

/// Encodes a hello frame body.
pub fn hello(hello: Hello, topic: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(MAX_HELLO_LEN);
    match hello {
        Hello::Publisher { session } => {
            b.put_u8(b'P');
            b.put_u64(session);
        }
        Hello::Subscriber { epoch, from } => {
            b.put_u8(b'S');
            b.put_u64(epoch);
            b.put_u64(from);
        }
    }
    b.put_slice(topic.as_bytes());
    b.freeze()
}

/// Parses a hello frame body, or says what is wrong with it.
pub fn parse_hello(body: &[u8]) -> Result<(Hello, String), String> {
    let (&role, mut rest) = body.split_first().ok_or("empty hello frame")?;
    let hello = match role {
        b'P' if rest.len() >= 8 => Hello::Publisher {
            session: rest.get_u64(),
        },
        b'S' if rest.len() >= 16 => Hello::Subscriber {
            epoch: rest.get_u64(),
            from: rest.get_u64(),
        },
        b'P' | b'S' => return Err("hello frame too short for its role".into()),
        other => return Err(format!("unknown role byte {other:#04x}; allowed: 'P', 'S'")),
    };
    if rest.is_empty() || rest.len() > MAX_TOPIC_LEN {
        return Err(format!(
            "topic must be 1..={MAX_TOPIC_LEN} bytes, got {}",
            rest.len()
        ));
    }
    let topic = std::str::from_utf8(rest).map_err(|_| "topic is not UTF-8".to_owned())?;
    Ok((hello, topic.to_owned()))
}

/// Encodes the reply to a hello.
pub fn ack(epoch: u64, position: u64) -> Bytes {
    let mut b = BytesMut::with_capacity(ACK_LEN);
    b.put_u8(ACK);
    b.put_u64(epoch);
    b.put_u64(position);
    b.freeze()
}

/// Parses the reply to a hello into `(epoch, position)`.
pub fn parse_ack(mut body: &[u8]) -> Result<(u64, u64), String> {
    if body.len() != ACK_LEN || body[0] != ACK {
        return Err(format!("unexpected hello reply {body:?}"));
    }
    body.advance(1);
    Ok((body.get_u64(), body.get_u64()))
}

/// Parses the reply to a publisher sync.
pub fn parse_sync_reply(mut body: &[u8]) -> Result<u64, String> {
    if body.len() != SYNC_REPLY_LEN {
        return Err(format!("unexpected sync reply of {} bytes", body.len()));
    }
    Ok(body.get_u64())
}

/// The frame that answers a publisher sync: `relayed`, the session's relayed count.
pub fn sync_reply_frame(relayed: u64) -> [u8; FRAME_HEADER_LEN + SYNC_REPLY_LEN] {
    let mut frame = [0u8; FRAME_HEADER_LEN + SYNC_REPLY_LEN];
    frame[..FRAME_HEADER_LEN].copy_from_slice(&(SYNC_REPLY_LEN as u32).to_be_bytes());
    frame[FRAME_HEADER_LEN..].copy_from_slice(&relayed.to_be_bytes());
    frame
}

/// The body length a frame header declares.
pub fn frame_len(header: [u8; FRAME_HEADER_LEN]) -> usize {
    u32::from_be_bytes(header) as usize
}

/// What the front of a publisher's read buffer holds: `count` complete message frames in its
/// first `len` bytes, then possibly a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Complete, non-empty frames at the front.
    pub count: usize,
    /// Their bytes, headers included.
    pub len: usize,
    /// A sync (an empty frame) follows them.
    pub sync: bool,
    /// Bytes the next frame needs in all, when it is incomplete (0 when not known or not
    /// needed), so the reader can make room for a large one at once.
    pub next_len: usize,
}

/// Finds the complete message frames at the front of `buf`, at most `max_count`, stopping at
/// a sync. A frame declaring more than `max_frame` bytes is an error.
pub fn scan_frames(buf: &[u8], max_frame: usize, max_count: usize) -> Result<Scan, String> {
    let mut scan = Scan {
        count: 0,
        len: 0,
        sync: false,
        next_len: 0,
    };
    while scan.count < max_count {
        let Some(header) = buf.get(scan.len..scan.len + FRAME_HEADER_LEN) else {
            return Ok(scan);
        };
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(header);
        let body = frame_len(h);
        if body > max_frame {
            return Err(format!("frame of {body} bytes; allowed: up to {max_frame}"));
        }
        if body == 0 {
            scan.sync = true;
            return Ok(scan);
        }
        let end = scan.len + FRAME_HEADER_LEN + body;
        if buf.len() < end {
            scan.next_len = FRAME_HEADER_LEN + body;
            return Ok(scan);
        }
        scan.len = end;
        scan.count += 1;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire bytes of `bodies` as frames (an empty body is a sync).
    fn frames(bodies: &[&[u8]]) -> Vec<u8> {
        crate::log::Frames::encode(bodies).bytes().to_vec()
    }

    #[test]
    fn scan_finds_complete_frames_and_stops_at_a_sync_or_the_count() {
        let buf = frames(&[b"ab", b"c", b"", b"d"]);
        let s = scan_frames(&buf, 10, 100).unwrap();
        assert_eq!((s.count, s.len, s.sync), (2, 11, true));
        let s = scan_frames(&buf, 10, 1).unwrap();
        assert_eq!((s.count, s.len, s.sync), (1, 6, false));
        // A frame cut short: what it needs in all is known once its header is in.
        let s = scan_frames(&buf[..8], 10, 100).unwrap();
        assert_eq!((s.count, s.len, s.sync, s.next_len), (1, 6, false, 0));
        let s = scan_frames(&frames(&[b"abcdef"])[..7], 10, 100).unwrap();
        assert_eq!((s.count, s.len, s.next_len), (0, 0, 10));
        assert!(
            scan_frames(&frames(&[b"too long"]), 4, 100)
                .unwrap_err()
                .contains("allowed")
        );
        assert_eq!(
            frame_len(sync_reply_frame(7)[..4].try_into().unwrap()),
            SYNC_REPLY_LEN
        );
        assert_eq!(parse_sync_reply(&sync_reply_frame(7)[4..]), Ok(7));
    }

    #[test]
    fn hello_round_trip_and_rejects() {
        let sub = Hello::Subscriber { epoch: 7, from: 9 };
        assert_eq!(parse_hello(&hello(sub, "t1")), Ok((sub, "t1".into())));
        let publisher = Hello::Publisher { session: u64::MAX };
        assert_eq!(
            parse_hello(&hello(publisher, "t")),
            Ok((publisher, "t".into()))
        );
        assert!(parse_hello(b"").is_err());
        assert!(parse_hello(b"X t").unwrap_err().contains("allowed"));
        assert!(parse_hello(b"P1234567").unwrap_err().contains("too short"));
        assert!(parse_hello(b"P12345678").unwrap_err().contains("topic"));
        assert!(parse_hello(b"P12345678\xff\xfe").is_err());
    }

    #[test]
    fn golden_subscriber_hello_and_ack() {
        let body = hello(Hello::Subscriber { epoch: 1, from: 2 }, "t");
        #[rustfmt::skip]
        let expected: &[u8] = &[
            b'S',
            0, 0, 0, 0, 0, 0, 0, 1, // epoch
            0, 0, 0, 0, 0, 0, 0, 2, // from
            b't',                   // topic
        ];
        assert_eq!(&body[..], expected);
        assert_eq!(parse_ack(&ack(3, 4)), Ok((3, 4)));
        assert!(parse_ack(&[ACK]).is_err());
        assert_eq!(parse_sync_reply(&5u64.to_be_bytes()), Ok(5));
    }
}
