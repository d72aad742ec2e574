//! The application protocol on top of WebSocket: the two URL paths, the frame a subscriber
//! receives, the notices that end a subscriber's and a session publisher's handshake, and the
//! close codes.
//!
//! Each server start picks an *epoch*, a random number below 2^53, and names it in the
//! subscribed notice. Positions only mean something to the server incarnation that handed them
//! out: a restarted server (memory storage) numbers its topics from 0 again. A subscriber
//! resuming with `from=N&epoch=E` from another epoch is therefore started at the oldest
//! message the new server holds, not at `N`, and learns the new epoch from the notice. This
//! costs bytes in the handshake only; data frames are unchanged.
//!
//! Server → subscriber, one binary WebSocket message per delivery unit:
//!
//! ```text
//! u64 BE   topic position of the first message in this frame
//! then, once per message:
//! u32 BE   message length
//! bytes    message
//! ```
//!
//! Positions within one connection are contiguous, so message `i` of a frame sits at
//! `first + i`. The position header (8 bytes per frame) and length prefixes (4 bytes per message)
//! are real protocol overhead and are counted as such: they are what makes resume possible.
//!
//! A publisher may name a *session* (`/topics/{topic}/publish?session=S`, `S` a random u64 it
//! keeps across reconnects). The server then counts the session's messages it has put into the
//! topic and, right after every upgrade, sends one text message `{"accepted":N,"epoch":E}`
//! (`"accepted":null` when it does not know the session: a first connection, a restarted or a
//! forgetful server). A reconnecting publisher drops the first `N` messages it sent in the
//! session and resends only the rest. Without `session=` the server sends nothing, as before.

use bytes::{BufMut, Bytes, BytesMut};

/// Close code: a subscriber asked for a position older than the topic buffer. The reason is
/// `earliest=N`, the oldest position still held.
pub const CLOSE_GAP: u16 = 4001;
/// Close code: a subscriber asked for a position the topic has not reached (the server
/// restarted and lost its log). The reason is `next=N`.
pub const CLOSE_AHEAD: u16 = 4002;

/// Bytes of the position header at the start of every data frame.
pub const POSITION_LEN: usize = 8;
/// Bytes of the length prefix before every message in a data frame.
pub const LENGTH_LEN: usize = 4;

/// Longest topic name accepted in a path.
pub const MAX_TOPIC_LEN: usize = 200;

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /topics/{topic}?from=SEQ&epoch=E`: receive messages from `from` (live if absent).
    Subscribe {
        /// The topic.
        topic: String,
        /// The first position wanted.
        from: Option<u64>,
        /// The server epoch `from` belongs to, if the client says.
        epoch: Option<u64>,
    },
    /// `GET /topics/{topic}/publish?session=S`: every binary (or text) message sent is
    /// published.
    Publish {
        /// The topic.
        topic: String,
        /// The publisher's session, if it names one: the server then says how many of the
        /// session's messages it has accepted ([`publish_notice`]).
        session: Option<u64>,
    },
}

/// Whether `topic` is a valid topic name: 1 to [`MAX_TOPIC_LEN`] URL-unreserved characters, so
/// it needs no escaping in a path.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Parses a request target (`/topics/x?from=3`) into a [`Route`], or a reason to refuse it
/// with 404 (`Err(None)`) or 400 (`Err(Some(reason))`).
pub fn parse_route(path: &str, query: Option<&str>) -> Result<Route, Option<String>> {
    let rest = path.strip_prefix("/topics/").ok_or(None)?;
    let (topic, publish) = match rest.strip_suffix("/publish") {
        Some(t) => (t, true),
        None => (rest, false),
    };
    if !valid_topic(topic) {
        return Err(Some(
            "topic must be 1-200 characters of A-Z a-z 0-9 - . _ ~".into(),
        ));
    }
    let topic = topic.to_owned();
    if publish {
        let [session] = query_numbers(query, ["session"])?;
        return Ok(Route::Publish { topic, session });
    }
    let [from, epoch] = query_numbers(query, ["from", "epoch"])?;
    Ok(Route::Subscribe { topic, from, epoch })
}

/// The values of `keys` in `query`, each a non-negative integer if present; other keys are
/// ignored (a later value of the same key wins).
fn query_numbers<const N: usize>(
    query: Option<&str>,
    keys: [&str; N],
) -> Result<[Option<u64>; N], Option<String>> {
    let mut values = [None; N];
    for pair in query.unwrap_or("").split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let Some(i) = keys.iter().position(|k| *k == key) else {
            continue;
        };
        let n = value.parse::<u64>().map_err(|_| {
            Some(format!(
                "{key} must be a non-negative integer, got {value:?}"
            ))
        })?;
        values[i] = Some(n);
    }
    Ok(values)
}

/// The text message that confirms a subscription: `{"position":N,"epoch":E}`, the position of
/// the next message the subscriber will receive and the server's epoch.
pub fn subscribed_notice(position: u64, epoch: u64) -> String {
    format!("{{\"position\":{position},\"epoch\":{epoch}}}")
}

/// Parses [`subscribed_notice`] into the position and the epoch (`None` from a server that
/// names none: `{"position":N}`).
pub fn parse_subscribed_notice(text: &str) -> Option<(u64, Option<u64>)> {
    let body = text.strip_prefix("{\"position\":")?.strip_suffix('}')?;
    match body.split_once(",\"epoch\":") {
        Some((position, epoch)) => Some((position.parse().ok()?, Some(epoch.parse().ok()?))),
        None => Some((body.parse().ok()?, None)),
    }
}

/// The text message that ends a session publisher's handshake: `{"accepted":N,"epoch":E}`,
/// how many of the session's messages the server has put into the topic, or
/// `{"accepted":null,"epoch":E}` when the server does not know the session.
pub fn publish_notice(accepted: Option<u64>, epoch: u64) -> String {
    match accepted {
        Some(n) => format!("{{\"accepted\":{n},\"epoch\":{epoch}}}"),
        None => format!("{{\"accepted\":null,\"epoch\":{epoch}}}"),
    }
}

/// Parses [`publish_notice`] into the accepted count (`None`: unknown session) and the epoch.
pub fn parse_publish_notice(text: &str) -> Option<(Option<u64>, u64)> {
    let body = text.strip_prefix("{\"accepted\":")?.strip_suffix('}')?;
    let (accepted, epoch) = body.split_once(",\"epoch\":")?;
    let accepted = match accepted {
        "null" => None,
        n => Some(n.parse().ok()?),
    };
    Some((accepted, epoch.parse().ok()?))
}

/// Parses the `key=N` reason of a [`CLOSE_GAP`] or [`CLOSE_AHEAD`] close.
pub fn parse_position_reason(reason: &str, key: &str) -> Option<u64> {
    reason.strip_prefix(key)?.strip_prefix('=')?.parse().ok()
}

/// Bytes a frame carrying `msgs` takes.
pub fn frame_len<'a>(msgs: impl IntoIterator<Item = &'a Bytes>) -> usize {
    POSITION_LEN
        + msgs
            .into_iter()
            .map(|m| LENGTH_LEN + m.len())
            .sum::<usize>()
}

/// Encodes one data frame: the first position, then each message with its length.
pub fn encode_frame(first: u64, msgs: &[Bytes]) -> Bytes {
    let mut buf = BytesMut::with_capacity(frame_len(msgs));
    buf.put_u64(first);
    for m in msgs {
        // Messages are bounded by max_message_bytes, which validation keeps within u32.
        buf.put_u32(u32::try_from(m.len()).unwrap_or(u32::MAX));
        buf.extend_from_slice(m);
    }
    buf.freeze()
}

/// Decodes a data frame into its first position, appending its messages (zero-copy slices of
/// `frame`) to `out`. Lengths are checked against the bytes present before anything is sliced.
pub fn decode_frame(frame: &Bytes, out: &mut Vec<Bytes>) -> Result<u64, String> {
    let header = frame
        .get(..POSITION_LEN)
        .ok_or_else(|| format!("frame of {} bytes has no position header", frame.len()))?;
    let mut pos = [0u8; POSITION_LEN];
    pos.copy_from_slice(header);
    let first = u64::from_be_bytes(pos);
    let mut at = POSITION_LEN;
    while at < frame.len() {
        let prefix = frame
            .get(at..at + LENGTH_LEN)
            .ok_or_else(|| format!("truncated length prefix at offset {at}"))?;
        let mut len = [0u8; LENGTH_LEN];
        len.copy_from_slice(prefix);
        let len = u32::from_be_bytes(len) as usize;
        at += LENGTH_LEN;
        if len > frame.len() - at {
            return Err(format!(
                "message at offset {at} claims {len} bytes, {} left",
                frame.len() - at
            ));
        }
        out.push(frame.slice(at..at + len));
        at += len;
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_frame() {
        let f = encode_frame(258, &[Bytes::from_static(b"ab"), Bytes::from_static(b"c")]);
        assert_eq!(
            &f[..],
            &[
                0, 0, 0, 0, 0, 0, 1, 2, // first position: 258
                0, 0, 0, 2, b'a', b'b', // message 258: length 2
                0, 0, 0, 1, b'c', // message 259: length 1
            ][..]
        );
        let mut out = Vec::new();
        assert_eq!(decode_frame(&f, &mut out), Ok(258));
        assert_eq!(
            out,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
    }

    #[test]
    fn rejects_lengths_beyond_the_frame() {
        let mut out = Vec::new();
        let lying = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]);
        assert!(decode_frame(&lying, &mut out).is_err());
        assert!(decode_frame(&Bytes::from_static(&[0; 7]), &mut out).is_err());
        assert!(decode_frame(&Bytes::from_static(&[0; 10]), &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn routes() {
        assert_eq!(
            parse_route("/topics/a-b", Some("from=7")),
            Ok(Route::Subscribe {
                topic: "a-b".into(),
                from: Some(7),
                epoch: None,
            })
        );
        assert_eq!(
            parse_route("/topics/t", Some("epoch=12&from=3")),
            Ok(Route::Subscribe {
                topic: "t".into(),
                from: Some(3),
                epoch: Some(12),
            })
        );
        assert_eq!(
            parse_route("/topics/a", Some("epoch=x")),
            Err(Some(
                "epoch must be a non-negative integer, got \"x\"".into()
            ))
        );
        assert_eq!(
            parse_route("/topics/a/publish", None),
            Ok(Route::Publish {
                topic: "a".into(),
                session: None,
            })
        );
        assert_eq!(
            parse_route(
                "/topics/a/publish",
                Some("session=18446744073709551615&from=x")
            ),
            Ok(Route::Publish {
                topic: "a".into(),
                session: Some(u64::MAX),
            })
        );
        assert!(matches!(
            parse_route("/topics/a/publish", Some("session=-3")),
            Err(Some(_))
        ));
        assert_eq!(parse_route("/other", None), Err(None));
        assert!(matches!(
            parse_route("/topics/a", Some("from=-1")),
            Err(Some(_))
        ));
        assert!(matches!(parse_route("/topics/a%20b", None), Err(Some(_))));
        assert!(matches!(parse_route("/topics/", None), Err(Some(_))));
    }

    #[test]
    fn notices_round_trip() {
        assert_eq!(subscribed_notice(42, 7), r#"{"position":42,"epoch":7}"#);
        assert_eq!(
            parse_subscribed_notice(&subscribed_notice(42, 7)),
            Some((42, Some(7)))
        );
        assert_eq!(
            parse_subscribed_notice(r#"{"position":3}"#),
            Some((3, None))
        );
        assert_eq!(parse_subscribed_notice(r#"{"position":3,"epoch":}"#), None);
        assert_eq!(
            publish_notice(Some(256), 7),
            r#"{"accepted":256,"epoch":7}"#
        );
        assert_eq!(publish_notice(None, 7), r#"{"accepted":null,"epoch":7}"#);
        for accepted in [None, Some(0), Some(u64::MAX)] {
            assert_eq!(
                parse_publish_notice(&publish_notice(accepted, 9)),
                Some((accepted, 9))
            );
        }
        assert_eq!(parse_publish_notice(r#"{"accepted":1}"#), None);
        assert_eq!(parse_publish_notice(r#"{"position":1,"epoch":2}"#), None);
        assert_eq!(parse_position_reason("earliest=9", "earliest"), Some(9));
        assert_eq!(parse_position_reason("earliest=x", "earliest"), None);
    }

    proptest! {
        #[test]
        fn frame_round_trip(first: u64, msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)) {
            let msgs: Vec<Bytes> = msgs.into_iter().map(Bytes::from).collect();
            let f = encode_frame(first, &msgs);
            prop_assert_eq!(f.len(), frame_len(&msgs));
            let mut out = Vec::new();
            prop_assert_eq!(decode_frame(&f, &mut out), Ok(first));
            prop_assert_eq!(out, msgs);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            let _ = decode_frame(&Bytes::from(bytes), &mut out);
        }
    }
}
