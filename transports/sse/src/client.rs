//! The SSE subscriber: a hyper HTTP/1.1 `GET` (or an HTTP/2 stream on a connection shared
//! with the run's other subscribers) whose body is read as it streams, parsed
//! ([`crate::parser`]) into events, one message per event. It reconnects as the HTML standard's
//! `EventSource` does: after the server's `retry:` delay, sending the last event ID as
//! `Last-Event-ID`, so the server resumes after the last message received.
//!
//! Request and response headers count as handshake; every later byte (events, keep-alives,
//! chunked-encoding framing) as steady state. A `gone`/`reset` event's gap and a `bad-payload`
//! event are counted as lost messages (`gone_messages`, `bad_payloads`), and the harness's
//! audit sees them missing.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::BodyExt;
use transport_core::{ClientContext, Counter, Distribution, TransportError};
use transport_long_poll::HttpVersion;
use transport_long_poll::client::h2::H2Conn;

use crate::config::{DataEncoding, SseConfig};
use crate::parser::{Event, Parser};
use crate::stream::EventStream;

/// Longest event-stream line accepted: a message up to 16 MiB in base64, plus the field name.
const MAX_LINE: usize = (16 << 20) / 3 * 4 + 64;
/// Bound on connecting and reading the response head.
const CONNECT_BOUND: Duration = Duration::from_secs(10);

/// Client-side counters.
struct Counters {
    events: Counter,
    reconnects: Counter,
    keepalives: Counter,
    gone_messages: Counter,
    bad_payloads: Counter,
    per_read: Distribution,
}

/// One open stream.
type Stream = EventStream;

/// A subscriber of one topic.
pub struct SseSubscriber {
    config: SseConfig,
    ctx: ClientContext,
    addr: String,
    topic: String,
    stream: Option<Stream>,
    parser: Parser,
    events: Vec<Event>,
    pending: VecDeque<Bytes>,
    /// The cursor the next message should have, once known (for counting a gap as lost).
    expected: Option<u64>,
    retry: Duration,
    /// A stream has opened before (so an empty last event ID means cursor 0, not "live").
    opened: bool,
    /// The epoch of the server the last event ID came from (sent back on reconnect, so a
    /// restarted server knows the ID is not its own).
    epoch: Option<u64>,
    counters: Counters,
}

/// Connects and returns once the stream is open (the server fixed its start).
pub async fn connect(
    config: &SseConfig,
    addr: &str,
    topic: &str,
    ctx: ClientContext,
) -> Result<SseSubscriber, TransportError> {
    let c = &ctx.counters;
    let counters = Counters {
        events: c.counter("events"),
        reconnects: c.counter("reconnects"),
        keepalives: c.counter("keepalives"),
        gone_messages: c.counter("gone_messages"),
        bad_payloads: c.counter("bad_payloads"),
        per_read: c.distribution("messages_per_read"),
    };
    let mut sub = SseSubscriber {
        config: config.clone(),
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        stream: None,
        parser: Parser::new(MAX_LINE),
        events: Vec::new(),
        pending: VecDeque::new(),
        expected: None,
        retry: config.retry,
        opened: false,
        epoch: None,
        counters,
        ctx,
    };
    sub.stream = Some(sub.open().await?);
    Ok(sub)
}

impl SseSubscriber {
    /// Opens a stream, resuming after the last event ID if there is one.
    async fn open(&mut self) -> Result<Stream, TransportError> {
        let bound = tokio::time::timeout(CONNECT_BOUND, self.request());
        let stream = bound.await.map_err(|_| TransportError::Timeout {
            stage: "sse connect",
            after_ms: CONNECT_BOUND.as_millis() as u64,
        })??;
        // A new stream starts a fresh parse, keeping the last event ID (as EventSource does).
        let last_id = std::mem::take(&mut self.parser.last_id);
        self.parser = Parser::new(MAX_LINE);
        self.parser.last_id = last_id;
        self.opened = true;
        self.epoch = stream.epoch.or(self.epoch);
        Ok(stream)
    }

    async fn request(&self) -> Result<Stream, TransportError> {
        // A stream that opened at cursor 0 carried no id (there is no cursor before 0): its
        // resume point is 0, asked for with `from`.
        let from_start = self.parser.last_id.is_empty() && self.opened;
        let mut query = Vec::new();
        if from_start {
            query.push(format!("from={}", self.expected.unwrap_or(0)));
        }
        if let Some(e) = self.epoch {
            query.push(format!("epoch={e}"));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let path = format!("/topics/{}/events{query}", self.topic);
        let last = Some(self.parser.last_id.as_str()).filter(|id| !id.is_empty());
        match self.config.http {
            HttpVersion::Http11 => {
                EventStream::open(&self.ctx, &self.addr, &path, last, "sse stream").await
            }
            HttpVersion::Http2 => {
                let streams = self.config.streams_per_connection;
                // As over HTTP/1.1, a stream's request counts as handshake until its head.
                let conn = H2Conn::shared(&self.ctx, &self.addr, "sse", streams, true).await?;
                EventStream::open_h2(conn, &path, last, "sse stream").await
            }
        }
    }

    /// Reads one chunk of the body into events; `Ok(false)` when the stream ended.
    async fn read(&mut self) -> Result<bool, TransportError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(false);
        };
        let frame = match stream.body.frame().await {
            Some(Ok(f)) => f,
            Some(Err(_)) | None => return Ok(false),
        };
        let Ok(data) = frame.into_data() else {
            return Ok(true);
        };
        let comments = self.parser.comments;
        self.parser.feed(&data, &mut self.events).map_err(|e| {
            TransportError::protocol("sse parse", format!("line over {} bytes", e.0))
        })?;
        self.counters
            .keepalives
            .add(self.parser.comments - comments);
        if let Some(retry) = self.parser.retry {
            self.retry = retry;
        }
        let before = self.pending.len();
        for ev in std::mem::take(&mut self.events) {
            self.accept(ev)?;
        }
        self.counters
            .per_read
            .record((self.pending.len() - before) as u64);
        Ok(true)
    }

    /// Turns one event into a message, or into counted loss.
    fn accept(&mut self, ev: Event) -> Result<(), TransportError> {
        let id = ev.id.parse::<u64>().ok();
        match ev.kind.as_str() {
            "message" => {
                let msg = match self.config.data_encoding {
                    DataEncoding::Base64 => STANDARD
                        .decode(ev.data.as_bytes())
                        .map_err(|e| TransportError::protocol("sse data", e.to_string()))?,
                    DataEncoding::Text => ev.data.into_bytes(),
                };
                self.counters.events.inc();
                self.pending.push_back(Bytes::from(msg));
                self.expected = id.map(|i| i + 1);
            }
            "gone" | "reset" => {
                let earliest = ev.data.trim().parse::<u64>().ok();
                if let (Some(expected), Some(earliest)) = (self.expected, earliest) {
                    let lost = earliest.saturating_sub(expected);
                    self.counters.gone_messages.add(lost);
                }
                self.expected = earliest;
                if ev.kind == "reset" {
                    // The old ID belongs to another log: resume from `earliest` if the
                    // stream breaks before the next event carries an ID of this one.
                    self.parser.last_id.clear();
                }
            }
            "bad-payload" => {
                self.counters.bad_payloads.inc();
                self.expected = id.map(|i| i + 1);
            }
            _ => {}
        }
        Ok(())
    }

    /// Waits out the backoff (its window starts at the server's `retry:`) and reopens, up to
    /// `reconnect_max_attempts` consecutive failures.
    async fn reconnect(&mut self) -> Result<(), TransportError> {
        self.stream = None;
        let mut backoff = self.ctx.backoff(self.config.backoff(self.retry));
        let mut failed = None;
        loop {
            if !backoff.wait().await {
                return Err(failed.unwrap_or(TransportError::Closed {
                    stage: "sse reconnect",
                }));
            }
            self.counters.reconnects.inc();
            match self.open().await {
                Ok(s) => {
                    self.stream = Some(s);
                    return Ok(());
                }
                Err(e) => failed = Some(e),
            }
        }
    }
}

impl transport_core::Subscriber for SseSubscriber {
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
