//! `nchan-websocket`: Nchan's WebSocket subscriber with the `ws+meta.nchan` subprotocol, under
//! which every frame starts with `id: TIME:TAG` and `content-type:` lines and a blank line
//! before the message. The id is what makes a resume possible: a broken connection is
//! re-upgraded with `?last_event_id=` (Nchan's default `nchan_subscriber_last_message_id`
//! reads it), and the buffer replays what was missed. Messages are published typed
//! `application/octet-stream`, so they arrive as binary frames. The upgrade's request and
//! response count as handshake.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use transport_core::{Backoff, ClientContext, Counter, CountingIo, TransportError};

use crate::channel::{self, MsgId, sub_path};
use crate::config::NchanConfig;

/// The subprotocol that puts each message's id in its frame.
pub const META_PROTOCOL: &str = "ws+meta.nchan";
/// Bound on connecting and upgrading.
const CONNECT_BOUND: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<CountingIo<TcpStream>>;

/// A WebSocket subscriber of one channel.
pub struct NchanWebSocketSubscriber {
    ctx: ClientContext,
    addr: String,
    path: String,
    ws: Option<Ws>,
    last: MsgId,
    backoff: Backoff,
    reconnects: Counter,
}

/// Connects, learns the channel's last message id, and upgrades after it.
pub async fn connect(
    config: &NchanConfig,
    addr: &str,
    channel: &str,
    ctx: ClientContext,
) -> Result<NchanWebSocketSubscriber, TransportError> {
    let mut conn = channel::open(&ctx, addr).await?;
    let last = channel::last_id(&mut conn, addr, channel).await?;
    drop(conn);
    let mut sub = NchanWebSocketSubscriber {
        addr: addr.to_owned(),
        path: sub_path(channel),
        ws: None,
        last,
        backoff: ctx.backoff(config.reconnect),
        reconnects: ctx.counters.counter("reconnects"),
        ctx,
    };
    sub.ws = Some(sub.upgrade().await?);
    Ok(sub)
}

/// Splits a `ws+meta.nchan` frame into the message id and the message.
pub fn split_meta(frame: &[u8]) -> Option<(MsgId, &[u8])> {
    let end = frame.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&frame[..end]).ok()?;
    let id = head.lines().find_map(|l| l.strip_prefix("id: "))?;
    Some((MsgId::parse(id)?, &frame[end + 2..]))
}

impl NchanWebSocketSubscriber {
    /// Upgrades a new connection asking for the messages after `last`, within the bound.
    async fn upgrade(&self) -> Result<Ws, TransportError> {
        let upgrade = async {
            let tcp = self.ctx.connect(&self.addr).await?;
            let io = self.ctx.counted(tcp);
            let flag = io.handshake_flag();
            let url = format!(
                "ws://{}{}?last_event_id={}",
                self.addr,
                self.path,
                self.last.text()
            );
            let mut req = url
                .into_client_request()
                .map_err(|e| TransportError::protocol("upgrade", e.to_string()))?;
            req.headers_mut().insert(
                http::header::SEC_WEBSOCKET_PROTOCOL,
                http::HeaderValue::from_static(META_PROTOCOL),
            );
            let (ws, _) = tokio_tungstenite::client_async(req, io)
                .await
                .map_err(|e| TransportError::protocol("upgrade", e.to_string()))?;
            flag.end();
            Ok(ws)
        };
        tokio::time::timeout(CONNECT_BOUND, upgrade)
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "upgrade",
                after_ms: CONNECT_BOUND.as_millis() as u64,
            })?
    }

    /// Re-upgrades after the backoff, until it gives up.
    async fn reconnect(&mut self) -> Result<(), TransportError> {
        self.ws = None;
        loop {
            self.reconnects.inc();
            let cause = match self.upgrade().await {
                Ok(ws) => {
                    self.backoff.reset();
                    self.ws = Some(ws);
                    return Ok(());
                }
                Err(e) => e,
            };
            if !self.backoff.wait().await {
                return Err(cause);
            }
        }
    }

    /// The message in one data frame, with its id remembered.
    fn accept(&mut self, data: &[u8]) -> Result<Bytes, TransportError> {
        let (id, msg) = split_meta(data).ok_or_else(|| {
            TransportError::protocol("receive", "frame without the ws+meta.nchan id header")
        })?;
        self.last = id;
        Ok(Bytes::copy_from_slice(msg))
    }
}

impl transport_core::Subscriber for NchanWebSocketSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            let next = match self.ws.as_mut() {
                Some(ws) => ws.next().await,
                None => None,
            };
            let msg = match next {
                Some(Ok(Message::Binary(data))) => self.accept(&data)?,
                Some(Ok(Message::Text(text))) => self.accept(text.as_bytes())?,
                // Pings are answered by tungstenite as it reads; nothing else carries messages.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    self.reconnect().await?;
                    continue;
                }
            };
            out.push(msg);
            return Ok(1);
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        // Read until Nchan's close reply too: its bytes are on the wire, so they are counted.
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                if ws.close(None).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            })
            .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_frames_split_into_id_and_message() {
        let frame = b"id: 1796664180:2\ncontent-type: application/octet-stream\n\n\x00\n\n\xff";
        let (id, msg) = split_meta(frame).unwrap();
        assert_eq!(
            id,
            MsgId {
                time: 1796664180,
                tag: 2
            }
        );
        assert_eq!(msg, b"\x00\n\n\xff");
        assert!(split_meta(b"no header").is_none());
    }
}
