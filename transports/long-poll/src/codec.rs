//! Body formats of the long-poll HTTP API, in both encodings, shared by server and client.
//!
//! Binary (`application/octet-stream`), all integers big-endian:
//! - a *frame* is `u32 length | length bytes`; a publish body is one or more frames;
//! - a poll response (and the head reply) is `u64 next_cursor | frames`;
//! - a publish response is `u64 next_cursor`.
//!
//! JSON (`application/json`), payloads base64 (standard alphabet, padded):
//! - publish: `{"messages":["aGVsbG8="]}`;
//! - poll response: `{"next_cursor":1,"messages":["aGVsbG8="]}`; publish response:
//!   `{"next_cursor":1}`.
//!
//! Errors are JSON in both encodings (`{"error":"..."}`, plus `"earliest_cursor"` on 410):
//! they are rare, and curl users read them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

use crate::config::Encoding;

/// Content type of binary bodies.
pub const BINARY_TYPE: &str = "application/octet-stream";
/// Content type of JSON bodies.
pub const JSON_TYPE: &str = "application/json";

/// Bytes one message adds to a poll response or publish body in `encoding`.
pub fn encoded_len(encoding: Encoding, msg_len: usize) -> usize {
    match encoding {
        Encoding::Binary => 4 + msg_len,
        // Base64 plus quotes and a comma.
        Encoding::Json => msg_len.div_ceil(3) * 4 + 3,
    }
}

fn put_frames(buf: &mut BytesMut, msgs: &[Bytes]) {
    for m in msgs {
        // Messages are bounded by the body limit (at most 1 GiB), so the length fits a u32.
        buf.put_u32(u32::try_from(m.len()).unwrap_or(u32::MAX));
        buf.put_slice(m);
    }
}

fn put_json_messages(out: &mut String, msgs: &[Bytes]) {
    out.push_str("\"messages\":[");
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        B64.encode_string(m, out);
        out.push('"');
    }
    out.push(']');
}

/// Splits binary frames into messages without copying. Nothing is allocated from a length
/// before it is checked against the bytes actually present.
pub fn decode_frames(body: &Bytes) -> Result<Vec<Bytes>, String> {
    let mut msgs = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let Some(prefix) = body.get(at..at + 4) else {
            return Err(format!("truncated frame length at byte {at}"));
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let start = at + 4;
        if len > body.len() - start {
            return Err(format!(
                "frame at byte {at} claims {len} bytes but only {} remain",
                body.len() - start
            ));
        }
        msgs.push(body.slice(start..start + len));
        at = start + len;
    }
    Ok(msgs)
}

fn decode_b64(items: Vec<String>) -> Result<Vec<Bytes>, String> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            B64.decode(s.as_bytes())
                .map(Bytes::from)
                .map_err(|e| format!("messages[{i}] is not base64: {e}"))
        })
        .collect()
}

/// Encodes a publish body.
pub fn encode_publish(encoding: Encoding, msgs: &[Bytes]) -> Bytes {
    match encoding {
        Encoding::Binary => {
            let mut buf = BytesMut::with_capacity(msgs.iter().map(|m| 4 + m.len()).sum());
            put_frames(&mut buf, msgs);
            buf.freeze()
        }
        Encoding::Json => {
            let mut out = String::with_capacity(
                16 + msgs
                    .iter()
                    .map(|m| encoded_len(encoding, m.len()))
                    .sum::<usize>(),
            );
            out.push('{');
            put_json_messages(&mut out, msgs);
            out.push('}');
            Bytes::from(out)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPublish {
    messages: Vec<String>,
}

/// Decodes a publish body; at least one message is required.
pub fn decode_publish(encoding: Encoding, body: &Bytes) -> Result<Vec<Bytes>, String> {
    let msgs = match encoding {
        Encoding::Binary => decode_frames(body)?,
        Encoding::Json => {
            let parsed: JsonPublish = serde_json::from_slice(body)
                .map_err(|e| format!("expected {{\"messages\":[\"<base64>\",...]}}: {e}"))?;
            decode_b64(parsed.messages)?
        }
    };
    if msgs.is_empty() {
        return Err("a publish needs at least one message".into());
    }
    Ok(msgs)
}

/// Encodes a poll response (or, with no messages, a head reply or an empty 200).
pub fn encode_batch(encoding: Encoding, next_cursor: u64, msgs: &[Bytes]) -> Bytes {
    match encoding {
        Encoding::Binary => {
            let mut buf =
                BytesMut::with_capacity(8 + msgs.iter().map(|m| 4 + m.len()).sum::<usize>());
            buf.put_u64(next_cursor);
            put_frames(&mut buf, msgs);
            buf.freeze()
        }
        Encoding::Json => {
            let mut out = String::with_capacity(
                48 + msgs
                    .iter()
                    .map(|m| encoded_len(encoding, m.len()))
                    .sum::<usize>(),
            );
            out.push_str("{\"next_cursor\":");
            out.push_str(&next_cursor.to_string());
            out.push(',');
            put_json_messages(&mut out, msgs);
            out.push('}');
            Bytes::from(out)
        }
    }
}

#[derive(Deserialize)]
struct JsonBatch {
    next_cursor: u64,
    #[serde(default)]
    messages: Vec<String>,
}

/// Decodes a poll response into its next cursor and messages.
pub fn decode_batch(encoding: Encoding, body: &Bytes) -> Result<(u64, Vec<Bytes>), String> {
    match encoding {
        Encoding::Binary => {
            let Some(prefix) = body.get(..8) else {
                return Err(format!("body of {} bytes has no cursor", body.len()));
            };
            let mut c = [0u8; 8];
            c.copy_from_slice(prefix);
            let msgs = decode_frames(&body.slice(8..))?;
            Ok((u64::from_be_bytes(c), msgs))
        }
        Encoding::Json => {
            let parsed: JsonBatch =
                serde_json::from_slice(body).map_err(|e| format!("bad JSON batch: {e}"))?;
            Ok((parsed.next_cursor, decode_b64(parsed.messages)?))
        }
    }
}

/// Encodes a publish response: the cursor after the last message stored.
pub fn encode_cursor(encoding: Encoding, next_cursor: u64) -> Bytes {
    match encoding {
        Encoding::Binary => Bytes::copy_from_slice(&next_cursor.to_be_bytes()),
        Encoding::Json => Bytes::from(format!("{{\"next_cursor\":{next_cursor}}}")),
    }
}

/// An error body; `earliest_cursor` accompanies 410 Gone.
pub fn encode_error(message: &str, earliest_cursor: Option<u64>) -> Bytes {
    // A struct, not `json!` (whose keys come out sorted), so `error` is the first key in every
    // error body.
    #[derive(serde::Serialize)]
    struct Error<'a> {
        error: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        earliest_cursor: Option<u64>,
    }
    let v = Error {
        error: message,
        earliest_cursor,
    };
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// The 400 body for a cursor beyond the head: a client whose cursor is ahead of the server's
/// log is talking to a restarted server that lost its messages, and resumes from
/// `earliest_cursor`.
pub fn encode_ahead(message: &str, head_cursor: u64, earliest_cursor: u64) -> Bytes {
    // A struct, not `json!`, so `error` stays the first key as in every other error body.
    #[derive(serde::Serialize)]
    struct Ahead<'a> {
        error: &'a str,
        head_cursor: u64,
        earliest_cursor: u64,
    }
    let v = Ahead {
        error: message,
        head_cursor,
        earliest_cursor,
    };
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

#[derive(Deserialize)]
struct JsonError {
    error: String,
    earliest_cursor: Option<u64>,
    head_cursor: Option<u64>,
}

/// From a 400 body: the server's `(head, earliest)` cursors if it says the cursor was ahead.
pub fn decode_ahead(body: &[u8]) -> Option<(u64, u64)> {
    let e = serde_json::from_slice::<JsonError>(body).ok()?;
    Some((e.head_cursor?, e.earliest_cursor?))
}

/// Decodes an error body into its message and earliest cursor; a body that is not our JSON
/// error (a proxy page, hyper's bare 400) comes back as lossy text.
pub fn decode_error(body: &[u8]) -> (String, Option<u64>) {
    match serde_json::from_slice::<JsonError>(body) {
        Ok(e) => (e.error, e.earliest_cursor),
        Err(_) => (String::from_utf8_lossy(body).into_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"hello"),
            Bytes::new(),
            Bytes::from_static(&[0, 255, 7]),
        ]
    }

    #[test]
    fn binary_batch_golden_bytes() {
        let body = encode_batch(Encoding::Binary, 3, &[Bytes::from_static(b"hi")]);
        assert_eq!(
            &body[..],
            &[
                0, 0, 0, 0, 0, 0, 0, 3, // next_cursor
                0, 0, 0, 2, // frame length
                b'h', b'i', // payload
            ][..]
        );
    }

    #[test]
    fn json_batch_golden_text() {
        let body = encode_batch(Encoding::Json, 3, &[Bytes::from_static(b"hello")]);
        assert_eq!(&body[..], br#"{"next_cursor":3,"messages":["aGVsbG8="]}"#);
        assert_eq!(encoded_len(Encoding::Json, 5), "\"aGVsbG8=\",".len());
    }

    #[test]
    fn round_trips_in_both_encodings() {
        for enc in [Encoding::Binary, Encoding::Json] {
            let m = msgs();
            assert_eq!(decode_publish(enc, &encode_publish(enc, &m)).unwrap(), m);
            assert_eq!(
                decode_batch(enc, &encode_batch(enc, 9, &m)).unwrap(),
                (9, m)
            );
            assert_eq!(
                decode_batch(enc, &encode_batch(enc, 4, &[])).unwrap(),
                (4, vec![])
            );
        }
    }

    #[test]
    fn rejects_malformed_bodies_without_allocating_from_lengths() {
        // A frame claiming 4 GiB in a 6-byte body.
        let huge = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert!(decode_frames(&huge).unwrap_err().contains("claims"));
        assert!(decode_frames(&Bytes::from_static(&[0, 0])).is_err());
        assert!(decode_publish(Encoding::Binary, &Bytes::new()).is_err());
        assert!(
            decode_publish(
                Encoding::Json,
                &Bytes::from_static(b"{\"messages\":[\"*\"]}")
            )
            .is_err()
        );
        assert!(decode_publish(Encoding::Json, &Bytes::from_static(b"[1,2]")).is_err());
        assert!(decode_batch(Encoding::Binary, &Bytes::from_static(&[0; 7])).is_err());
    }

    #[test]
    fn errors_carry_earliest_cursor() {
        let body = encode_error("gone", Some(12));
        assert_eq!(&body[..], br#"{"error":"gone","earliest_cursor":12}"#);
        assert_eq!(decode_error(&body), ("gone".to_string(), Some(12)));
        assert_eq!(&encode_error("no", None)[..], br#"{"error":"no"}"#);
        assert_eq!(decode_error(b"plain"), ("plain".to_string(), None));
    }
}
