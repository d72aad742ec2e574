//! The handshake frames shared by client and server, and the codec both sides use.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::LengthDelimitedCodec;

/// Bytes of framing per message per hop.
pub const FRAME_HEADER_LEN: usize = 4;
/// The server's one-byte confirmation that a client's role is registered.
pub const ACK: u8 = 0;
/// Longest topic name accepted in a hello frame.
pub const MAX_TOPIC_LEN: usize = 255;

/// What a client declares in its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends messages.
    Publisher,
    /// Receives every message of its topic.
    Subscriber,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Publisher => b'P',
            Role::Subscriber => b'S',
        }
    }
}

/// The codec for both directions: 4-byte big-endian length, then the body.
pub fn codec(max_frame_bytes: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(FRAME_HEADER_LEN)
        .max_frame_length(max_frame_bytes)
        .new_codec()
}

/// Encodes a hello frame body.
pub fn hello(role: Role, topic: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(1 + topic.len());
    b.put_u8(role.byte());
    b.put_slice(topic.as_bytes());
    b.freeze()
}

/// Parses a hello frame body, or says what is wrong with it.
pub fn parse_hello(body: &[u8]) -> Result<(Role, String), String> {
    let (&role, topic) = body.split_first().ok_or("empty hello frame")?;
    let role = match role {
        b'P' => Role::Publisher,
        b'S' => Role::Subscriber,
        other => return Err(format!("unknown role byte {other:#04x}; allowed: 'P', 'S'")),
    };
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(format!(
            "topic must be 1..={MAX_TOPIC_LEN} bytes, got {}",
            topic.len()
        ));
    }
    let topic = std::str::from_utf8(topic).map_err(|_| "topic is not UTF-8".to_owned())?;
    Ok((role, topic.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trip_and_rejects() {
        assert_eq!(
            parse_hello(&hello(Role::Subscriber, "t1")),
            Ok((Role::Subscriber, "t1".into()))
        );
        assert!(parse_hello(b"").is_err());
        assert!(parse_hello(b"X t").unwrap_err().contains("allowed"));
        assert!(parse_hello(b"P").is_err());
        assert!(parse_hello(b"P\xff\xfe").is_err());
    }
}
