//! `nchan-sse`: Nchan's EventSource subscriber. One held `GET /sub/{channel}` with
//! `Accept: text/event-stream` streams every message as an event whose `id:` is Nchan's message
//! id; a broken stream is reopened with that id as `Last-Event-ID`, as a browser's
//! `EventSource` does. Events are parsed by the `sse` transport's parser; messages travel as
//! base64 (an event's data cannot carry CR, LF or NUL), published so by [`crate::publisher`].

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::BodyExt;
use transport_core::{Backoff, ClientContext, Counter, TransportError};
use transport_sse::parser::{Event, Parser};
use transport_sse::stream::EventStream;

use crate::channel::{self, MsgId, sub_path};
use crate::config::NchanConfig;

/// Longest event-stream line accepted: a 16 MiB message in base64 plus the field name.
const MAX_LINE: usize = (16 << 20) / 3 * 4 + 64;
/// Bound on connecting and reading the response head.
const CONNECT_BOUND: Duration = Duration::from_secs(10);

/// One open stream: its body and the task driving the connection.
type Stream = EventStream;

/// An EventSource subscriber of one channel.
pub struct NchanSseSubscriber {
    ctx: ClientContext,
    addr: String,
    path: String,
    stream: Option<Stream>,
    parser: Parser,
    events: Vec<Event>,
    pending: VecDeque<Bytes>,
    backoff: Backoff,
    reconnects: Counter,
    keepalives: Counter,
}

/// Connects, learns the channel's last message id, and opens the stream after it.
pub async fn connect(
    config: &NchanConfig,
    addr: &str,
    channel: &str,
    ctx: ClientContext,
) -> Result<NchanSseSubscriber, TransportError> {
    let mut conn = channel::open(&ctx, addr).await?;
    let last = channel::last_id(&mut conn, addr, channel).await?;
    drop(conn);
    let mut parser = Parser::new(MAX_LINE);
    parser.last_id = last.text();
    let mut sub = NchanSseSubscriber {
        addr: addr.to_owned(),
        path: sub_path(channel),
        stream: None,
        parser,
        events: Vec::new(),
        pending: VecDeque::new(),
        backoff: ctx.backoff(config.reconnect),
        reconnects: ctx.counters.counter("reconnects"),
        keepalives: ctx.counters.counter("keepalives"),
        ctx,
    };
    sub.stream = Some(sub.open().await?);
    Ok(sub)
}

impl NchanSseSubscriber {
    /// Opens a stream after the last event id, within [`CONNECT_BOUND`]; its request and
    /// response head count as handshake.
    async fn open(&mut self) -> Result<Stream, TransportError> {
        let stream = tokio::time::timeout(CONNECT_BOUND, self.request())
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "eventsource connect",
                after_ms: CONNECT_BOUND.as_millis() as u64,
            })??;
        // A new stream starts a fresh parse, keeping the last event id (as EventSource does).
        let last_id = std::mem::take(&mut self.parser.last_id);
        self.parser = Parser::new(MAX_LINE);
        self.parser.last_id = last_id;
        Ok(stream)
    }

    async fn request(&self) -> Result<Stream, TransportError> {
        let last_id = MsgId::parse(&self.parser.last_id).unwrap_or(MsgId::OLDEST);
        let last = last_id.text();
        EventStream::open(
            &self.ctx,
            &self.addr,
            &self.path,
            Some(&last),
            "eventsource",
        )
        .await
    }

    /// Reads one chunk of the body into messages; `Ok(false)` when the stream ended.
    async fn read(&mut self) -> Result<bool, TransportError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let data = match stream.body.frame().await {
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => return Ok(true),
            },
            Some(Err(_)) | None => return Ok(false),
        };
        let comments = self.parser.comments;
        self.parser.feed(&data, &mut self.events).map_err(|e| {
            TransportError::protocol("eventsource parse", format!("line over {} bytes", e.0))
        })?;
        self.keepalives.add(self.parser.comments - comments);
        for ev in self.events.drain(..) {
            if ev.kind != "message" {
                continue;
            }
            let msg = STANDARD
                .decode(ev.data.as_bytes())
                .map_err(|e| TransportError::protocol("eventsource data", e.to_string()))?;
            self.pending.push_back(Bytes::from(msg));
        }
        Ok(true)
    }

    /// Reopens after the backoff, until it gives up.
    async fn reconnect(&mut self) -> Result<(), TransportError> {
        self.stream = None;
        loop {
            self.reconnects.inc();
            let cause = match self.open().await {
                Ok(s) => {
                    self.backoff.reset();
                    self.stream = Some(s);
                    return Ok(());
                }
                Err(e) => e,
            };
            if !self.backoff.wait().await {
                return Err(cause);
            }
        }
    }
}

impl transport_core::Subscriber for NchanSseSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            if let Some(msg) = self.pending.pop_front() {
                out.push(msg);
                return Ok(1);
            }
            if !self.read().await? {
                self.reconnect().await?;
            }
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.stream = None;
        Ok(())
    }
}
