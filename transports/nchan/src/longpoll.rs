//! `nchan-long-poll`: Nchan's long-poll subscriber. Each `GET /sub/{channel}` is held until a
//! message newer than the one named by `If-Modified-Since` (its time) and `If-None-Match` (its
//! tag) exists, and answered with exactly that message, whose id comes back as
//! `Last-Modified`/`Etag`. Resuming after a broken connection is just the next poll with the
//! same headers: nothing the channel buffer still holds is lost.

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use transport_core::{Backoff, ClientContext, Counter, TransportError};
use transport_long_poll::client::http::Conn;

use crate::channel::{self, MsgId, sub_path};
use crate::config::NchanConfig;

/// Largest reply body accepted (one message).
const BODY_LIMIT: usize = 16 << 20;

/// A long-poll subscriber of one channel.
pub struct NchanLongPollSubscriber {
    conn: Option<Conn>,
    ctx: ClientContext,
    addr: String,
    path: String,
    /// The id of the last message received (or the start position).
    last: MsgId,
    backoff: Backoff,
    reconnects: Counter,
    empty_polls: Counter,
    /// Every poll sent (the harness's idle cost reads `polls`).
    polls: Counter,
}

/// Connects, learns the channel's last message id, and returns: every message after it will
/// be received.
pub async fn connect(
    config: &NchanConfig,
    addr: &str,
    channel: &str,
    ctx: ClientContext,
) -> Result<NchanLongPollSubscriber, TransportError> {
    let mut conn = channel::open(&ctx, addr).await?;
    let last = channel::last_id(&mut conn, addr, channel).await?;
    conn.end_handshake();
    Ok(NchanLongPollSubscriber {
        conn: Some(conn),
        addr: addr.to_owned(),
        path: sub_path(channel),
        last,
        backoff: ctx.backoff(config.reconnect),
        reconnects: ctx.counters.counter("reconnects"),
        empty_polls: ctx.counters.counter("empty_polls"),
        polls: ctx.counters.counter("polls"),
        ctx,
    })
}

impl NchanLongPollSubscriber {
    /// The poll for the message after `last`; the very first poll of a channel without
    /// messages names none, and Nchan answers with its oldest.
    fn request(&self) -> Result<Request<Full<Bytes>>, TransportError> {
        let mut req = Request::get(&self.path).header(header::HOST, &self.addr);
        if self.last != MsgId::OLDEST {
            req = req
                .header(header::IF_MODIFIED_SINCE, self.last.http_date())
                .header(header::IF_NONE_MATCH, self.last.tag.to_string());
        }
        req.body(Full::new(Bytes::new()))
            .map_err(|e| TransportError::protocol("poll", e.to_string()))
    }

    /// Reconnects after a broken poll, waiting the backoff; an error once it gives up.
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        self.conn = None;
        self.reconnects.inc();
        if !self.backoff.wait().await {
            return Err(cause);
        }
        // A failed connect is retried on the next turn, within the same backoff budget.
        self.conn = Conn::open(&self.ctx, &self.addr, false).await.ok();
        Ok(())
    }
}

impl transport_core::Subscriber for NchanLongPollSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            let req = self.request()?;
            let Some(conn) = self.conn.as_mut().filter(|c| c.is_open()) else {
                self.reconnect(TransportError::Closed { stage: "poll" })
                    .await?;
                continue;
            };
            self.polls.inc();
            match conn.exchange("poll", req, BODY_LIMIT).await {
                Ok(r) if r.status == StatusCode::OK => {
                    self.backoff.reset();
                    self.last = MsgId::from_headers(&r.headers).ok_or_else(|| {
                        TransportError::protocol("poll", "reply without Last-Modified and Etag")
                    })?;
                    out.push(r.body);
                    return Ok(1);
                }
                // Nchan's subscriber timeout: an empty delivery unit.
                Ok(r)
                    if matches!(
                        r.status,
                        StatusCode::NOT_MODIFIED | StatusCode::REQUEST_TIMEOUT
                    ) =>
                {
                    self.empty_polls.inc();
                    return Ok(0);
                }
                Ok(r) => {
                    return Err(TransportError::Refused {
                        stage: "poll",
                        detail: format!("HTTP {}", r.status),
                    });
                }
                // hyper reports a reset as closed, incomplete or an IO-level protocol error:
                // all of them mean this connection is gone, so poll again on a new one.
                Err(e) => self.reconnect(e).await?,
            }
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.conn = None;
        Ok(())
    }
}
