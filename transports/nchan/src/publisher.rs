//! The publisher all three Nchan transports share: one `POST /pub/{channel}` per message on a
//! keep-alive connection, each answered (201/202, with the channel's queue figures) before the
//! next is sent. Nchan takes one message per request, so a publisher's rate is bounded by the
//! round trip: that is the product's publishing API, measured as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use transport_core::{Backoff, ClientContext, Counter, TransportError};
use transport_long_poll::client::http::Conn;

use crate::channel::pub_path;
use crate::config::NchanConfig;

/// Largest publish reply read (channel info).
const REPLY_LIMIT: usize = 4096;
/// The content type that makes Nchan send WebSocket binary frames.
pub const BINARY: &str = "application/octet-stream";

/// How a message travels in the POST body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The bytes as they are, typed `application/octet-stream` (long polling, WebSocket).
    Binary,
    /// Base64 text without a type: an EventSource `data:` line cannot carry CR, LF or NUL.
    Base64,
}

/// A publisher of one channel.
pub struct NchanPublisher {
    conn: Option<Conn>,
    ctx: ClientContext,
    addr: String,
    path: String,
    body: Body,
    backoff: Backoff,
    retries: Counter,
}

/// Connects a publisher for `channel`.
pub async fn connect(
    config: &NchanConfig,
    addr: &str,
    channel: &str,
    body: Body,
    ctx: ClientContext,
) -> Result<NchanPublisher, TransportError> {
    let conn = Conn::open(&ctx, addr, false).await?;
    Ok(NchanPublisher {
        conn: Some(conn),
        retries: ctx.counters.counter("publish_retries"),
        addr: addr.to_owned(),
        path: pub_path(channel),
        body,
        backoff: ctx.backoff(config.reconnect),
        ctx,
    })
}

impl NchanPublisher {
    fn request(&self, msg: &Bytes) -> Result<Request<Full<Bytes>>, TransportError> {
        let req = Request::post(&self.path).header(header::HOST, &self.addr);
        let (req, body) = match self.body {
            Body::Binary => (req.header(header::CONTENT_TYPE, BINARY), msg.clone()),
            Body::Base64 => (req, Bytes::from(STANDARD.encode(msg))),
        };
        req.body(Full::new(body))
            .map_err(|e| TransportError::protocol("publish", e.to_string()))
    }

    /// One POST; a broken connection is reopened and the message sent again (counted as a
    /// retry: if the broken request had reached Nchan, the subscriber sees a duplicate).
    async fn post(&mut self, msg: &Bytes) -> Result<(), TransportError> {
        loop {
            if !self.conn.as_ref().is_some_and(Conn::is_open) {
                match Conn::open(&self.ctx, &self.addr, false).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.retries.inc();
                        if !self.backoff.wait().await {
                            return Err(e);
                        }
                        continue;
                    }
                }
            }
            let req = self.request(msg)?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            match conn.exchange("publish", req, REPLY_LIMIT).await {
                Ok(r) if matches!(r.status, StatusCode::CREATED | StatusCode::ACCEPTED) => {
                    self.backoff.reset();
                    return Ok(());
                }
                Ok(r) => {
                    return Err(TransportError::Refused {
                        stage: "publish",
                        detail: format!("HTTP {}", r.status),
                    });
                }
                // hyper reports a reset as closed, incomplete or an IO-level protocol error.
                Err(e) => {
                    self.conn = None;
                    self.retries.inc();
                    if !self.backoff.wait().await {
                        return Err(e);
                    }
                }
            }
        }
    }
}

impl transport_core::Publisher for NchanPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.post(&msg).await
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        // Every publish already waited for Nchan's reply.
        Ok(())
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.conn = None;
        Ok(())
    }
}
