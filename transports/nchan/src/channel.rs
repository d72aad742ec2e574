//! What the three subscribers share about Nchan channels: the locations, message ids
//! (`TIME:TAG`) and the channel-info request that fixes where a new subscriber starts.
//!
//! A subscription is "live" (the [`transport_core::Transport::subscriber`] contract) when
//! nothing published after it returns can be missed. A held long poll gives no sign that the
//! server registered it, so every subscriber first asks the channel's last message id
//! (`GET /pub/{channel}`, Nchan's channel info) and then asks for the messages after it: what
//! is published meanwhile waits in the channel's buffer. A channel with no message yet answers
//! 404; the subscriber then starts at the oldest message (`0:0`).

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use transport_core::{ClientContext, TransportError};
use transport_long_poll::client::http::Conn;

/// Largest channel-info reply read.
const INFO_LIMIT: usize = 4096;

/// The publisher location of `channel`.
pub fn pub_path(channel: &str) -> String {
    format!("/pub/{channel}")
}

/// The subscriber location of `channel`.
pub fn sub_path(channel: &str) -> String {
    format!("/sub/{channel}")
}

/// An Nchan message id: seconds since the epoch and a tag counting messages within that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsgId {
    /// Unix seconds (what long polling sends as `If-Modified-Since`).
    pub time: u64,
    /// The tag (long polling's `Etag` / `If-None-Match`).
    pub tag: u64,
}

impl MsgId {
    /// The position before every message: the oldest buffered message comes next.
    pub const OLDEST: MsgId = MsgId { time: 0, tag: 0 };

    /// Parses `TIME:TAG` (Nchan's form in `id:` lines, `Last-Event-ID` and channel info).
    pub fn parse(text: &str) -> Option<MsgId> {
        let (time, tag) = text.trim().split_once(':')?;
        Some(MsgId {
            time: time.parse().ok()?,
            tag: tag.trim_matches(|c| c == '[' || c == ']').parse().ok()?,
        })
    }

    /// The `TIME:TAG` form.
    pub fn text(&self) -> String {
        format!("{}:{}", self.time, self.tag)
    }

    /// Long polling's form: the time as an HTTP date and the tag.
    pub fn http_date(&self) -> String {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.time);
        httpdate::fmt_http_date(at)
    }

    /// The id of a long-poll reply, from its `Last-Modified` and `Etag` headers.
    pub fn from_headers(h: &http::HeaderMap) -> Option<MsgId> {
        let date = h.get(header::LAST_MODIFIED)?.to_str().ok()?;
        let time = httpdate::parse_http_date(date).ok()?;
        let time = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let tag = h
            .get(header::ETAG)?
            .to_str()
            .ok()?
            .trim_matches('"')
            .parse()
            .ok()?;
        Some(MsgId { time, tag })
    }
}

/// The last message id of `channel` (or [`MsgId::OLDEST`] for a channel with none), asked over
/// `conn`.
pub async fn last_id(conn: &mut Conn, host: &str, channel: &str) -> Result<MsgId, TransportError> {
    let req = Request::get(pub_path(channel))
        .header(header::HOST, host)
        .body(Full::new(Bytes::new()))
        .map_err(|e| TransportError::protocol("channel info", e.to_string()))?;
    let reply = conn.exchange("channel info", req, INFO_LIMIT).await?;
    match reply.status {
        StatusCode::NOT_FOUND => Ok(MsgId::OLDEST),
        StatusCode::OK => parse_info(&reply.body).ok_or_else(|| {
            TransportError::protocol("channel info", "no `last message id:` line in the reply")
        }),
        other => Err(TransportError::Refused {
            stage: "channel info",
            detail: format!("HTTP {other}"),
        }),
    }
}

/// `last message id: T:G` from Nchan's plain-text channel info.
fn parse_info(body: &[u8]) -> Option<MsgId> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("last message id:"))
        .and_then(MsgId::parse)
}

/// Opens a measured HTTP connection whose bytes count as handshake until the caller ends it.
pub async fn open(ctx: &ClientContext, addr: &str) -> Result<Conn, TransportError> {
    Conn::open(ctx, addr, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_from_every_form_nchan_writes() {
        assert_eq!(
            MsgId::parse("1796651560:3"),
            Some(MsgId {
                time: 1796651560,
                tag: 3
            })
        );
        assert_eq!(MsgId::parse("1796651560:[3]").map(|m| m.tag), Some(3));
        assert_eq!(MsgId::parse("nonsense"), None);
        let info = b"queued messages: 2\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 1796664180:1";
        assert_eq!(
            parse_info(info),
            Some(MsgId {
                time: 1796664180,
                tag: 1
            })
        );
    }

    #[test]
    fn long_poll_headers_round_trip() {
        let id = MsgId {
            time: 1796664180,
            tag: 7,
        };
        let mut h = http::HeaderMap::new();
        h.insert(header::LAST_MODIFIED, id.http_date().parse().unwrap());
        h.insert(header::ETAG, "7".parse().unwrap());
        assert_eq!(MsgId::from_headers(&h), Some(id));
        assert_eq!(id.http_date(), "Mon, 07 Dec 2026 17:23:00 GMT");
    }
}
