//! The subscribing client: tracks the next topic position it needs, turns each binary frame
//! into one delivery unit, and on any break reconnects with exponential backoff and full jitter,
//! resuming with `from=`. Duplicates (positions already delivered) are skipped, so every message
//! reaches the harness exactly once; positions the server no longer holds are counted in
//! `gap_messages` and left for the harness's audit to report as lost.
//!
//! A restarted server (memory storage) numbers its topic from 0 again, so the subscriber's
//! position means nothing to it, even once the new topic has passed it. The subscriber keeps
//! the epoch named in the subscribed notice and resumes with `from=N&epoch=E`; a server of
//! another epoch starts it at its oldest message instead and names its own epoch, and the
//! subscriber takes that as a restart: it counts `position_resets`, counts what the new server
//! had already evicted in `gap_messages`, and reads everything else the new server published.
//! Without an epoch (a server that names none), a position beyond the new topic's end (4002)
//! is the same sign of a restart.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{ClientContext, Counter, Distribution, Subscriber, TransportError};

use crate::WebSocketConfig;
use crate::proto::{self, CLOSE_AHEAD, CLOSE_GAP};
use crate::ws::{self, Ws, control_len, describe_close};

/// Client-side counters of a subscriber.
#[derive(Debug, Clone)]
struct SubCounters {
    frames: Counter,
    per_frame: Distribution,
    pings: Counter,
    pongs: Counter,
    control_bytes: Counter,
    reconnects: Counter,
    reconnect_failures: Counter,
    gap_messages: Counter,
    position_resets: Counter,
    duplicates: Counter,
    slow_consumer_closes: Counter,
    idle_timeouts: Counter,
}

impl SubCounters {
    fn new(ctx: &ClientContext) -> Self {
        let c = &ctx.counters;
        SubCounters {
            frames: c.counter("frames"),
            per_frame: c.distribution("messages_per_frame"),
            pings: c.counter("pings"),
            pongs: c.counter("pongs"),
            control_bytes: c.counter("control_bytes"),
            reconnects: c.counter("reconnects"),
            reconnect_failures: c.counter("reconnect_failures"),
            gap_messages: c.counter("gap_messages"),
            position_resets: c.counter("position_resets"),
            duplicates: c.counter("duplicates_skipped"),
            slow_consumer_closes: c.counter("slow_consumer_closes"),
            idle_timeouts: c.counter("idle_timeouts"),
        }
    }
}

/// How one subscription attempt ended.
enum Opened {
    /// Subscribed: the socket, the position of the next message, the server's epoch.
    Live(Box<Ws>, u64, Option<u64>),
    Gap {
        earliest: u64,
    },
    /// The topic has not reached the requested position: the server restarted.
    Ahead {
        next: u64,
    },
}

/// A subscriber of one topic.
pub struct WebSocketSubscriber {
    config: WebSocketConfig,
    addr: String,
    topic: String,
    ctx: ClientContext,
    ws: Option<Ws>,
    /// The topic position of the next message this subscriber needs.
    next: u64,
    /// The epoch of the server `next` belongs to; `None` if the server names none.
    epoch: Option<u64>,
    counters: SubCounters,
}

impl WebSocketSubscriber {
    /// Subscribes at the live edge and returns once the server confirmed the subscription.
    pub async fn connect(
        config: &WebSocketConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        if !proto::valid_topic(topic) {
            return Err(TransportError::Config(format!(
                "invalid topic name {topic:?}"
            )));
        }
        let mut sub = WebSocketSubscriber {
            config: config.clone(),
            addr: addr.to_owned(),
            topic: topic.to_owned(),
            counters: SubCounters::new(&ctx),
            ctx,
            ws: None,
            next: 0,
            epoch: None,
        };
        match sub.open(None).await? {
            Opened::Live(ws, position, epoch) => {
                sub.ws = Some(*ws);
                sub.next = position;
                sub.epoch = epoch;
                Ok(sub)
            }
            Opened::Gap { .. } | Opened::Ahead { .. } => Err(TransportError::protocol(
                "subscribe",
                "position refusal for a live subscription",
            )),
        }
    }

    /// The topic position of the next message this subscriber needs.
    pub fn next_position(&self) -> u64 {
        self.next
    }

    /// The epoch of the server that position belongs to (`None` if the server names none).
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// One subscription attempt from `from` (live edge if `None`), saying which server epoch
    /// `from` belongs to when it is known.
    async fn open(&self, from: Option<u64>) -> Result<Opened, TransportError> {
        let path = match (from, self.epoch) {
            (Some(f), Some(e)) => format!("/topics/{}?from={f}&epoch={e}", self.topic),
            (Some(f), None) => format!("/topics/{}?from={f}", self.topic),
            (None, _) => format!("/topics/{}", self.topic),
        };
        let limit = self
            .config
            .max_message_bytes
            .max(self.config.coalesce_max_bytes)
            + 64;
        let bound = self.config.dead_after();
        let (mut ws, flag) = ws::connect(
            &self.ctx,
            &self.addr,
            &path,
            self.config.tungstenite(limit),
            bound,
        )
        .await?;
        loop {
            let msg = tokio::time::timeout(bound, ws.next()).await.map_err(|_| {
                TransportError::Timeout {
                    stage: "subscribe",
                    after_ms: bound.as_millis() as u64,
                }
            })?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let (position, epoch) =
                        proto::parse_subscribed_notice(&t).ok_or_else(|| {
                            TransportError::protocol(
                                "subscribe",
                                format!("unexpected notice {t:?}"),
                            )
                        })?;
                    flag.end();
                    return Ok(Opened::Live(Box::new(ws), position, epoch));
                }
                Some(Ok(Message::Close(frame))) => {
                    let f = frame.as_ref();
                    let code = f.map(|f| u16::from(f.code));
                    let reason = f.map(|f| f.reason.as_str()).unwrap_or("");
                    if code == Some(CLOSE_GAP)
                        && let Some(earliest) = proto::parse_position_reason(reason, "earliest")
                    {
                        return Ok(Opened::Gap { earliest });
                    }
                    if code == Some(CLOSE_AHEAD)
                        && let Some(next) = proto::parse_position_reason(reason, "next")
                    {
                        return Ok(Opened::Ahead { next });
                    }
                    return Err(TransportError::Refused {
                        stage: "subscribe",
                        detail: describe_close(f),
                    });
                }
                Some(Ok(Message::Ping(p))) => self.count_ping(p.len()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ws::ws_error("subscribe")(e)),
                None => return Err(TransportError::Closed { stage: "subscribe" }),
            }
        }
    }

    fn count_ping(&self, payload: usize) {
        // tungstenite answers on the next read; count both directions here.
        self.counters.pings.inc();
        self.counters.pongs.inc();
        let bytes = control_len(payload, false) + control_len(payload, true);
        self.counters.control_bytes.add(bytes as u64);
    }

    /// Reconnects from `next`, backing off exponentially with jitter between failed attempts.
    async fn reconnect(&mut self) -> Result<(), TransportError> {
        let mut backoff = self.ctx.backoff(self.config.backoff());
        let mut last = None;
        loop {
            // Full jitter (`transport_core::backoff`), so a crowd of subscribers cut at once
            // does not come back in lockstep.
            if !backoff.wait().await {
                return Err(last.unwrap_or(TransportError::Closed { stage: "reconnect" }));
            }
            match self.open(Some(self.next)).await {
                Ok(Opened::Live(ws, position, epoch)) => {
                    self.counters.reconnects.inc();
                    if self.epoch.is_some() && epoch.is_some() && epoch != self.epoch {
                        // A restarted server: it started this subscription at its oldest
                        // message, not at our position from the old one. What it had already
                        // evicted is a gap; what the old server never delivered is lost, and
                        // the harness's audit says so.
                        self.counters.position_resets.inc();
                        self.counters.gap_messages.add(position);
                    }
                    self.epoch = epoch;
                    self.next = position;
                    self.ws = Some(*ws);
                    return Ok(());
                }
                Ok(Opened::Gap { earliest }) => {
                    // The server moved on: what lies before `earliest` is lost, and says so.
                    self.counters
                        .gap_messages
                        .add(earliest.saturating_sub(self.next));
                    self.next = self.next.max(earliest);
                    backoff.reset();
                }
                Ok(Opened::Ahead { next }) if next < self.next => {
                    // The server restarted and its topic began again at 0: start over from
                    // its oldest message (a 4001 then says where that is). What the old
                    // server never delivered is lost, and the harness's audit says so.
                    self.counters.position_resets.inc();
                    self.next = 0;
                    // Whatever epoch we held is not this server's; the next notice names it.
                    self.epoch = None;
                    backoff.reset();
                }
                // The topic caught up meanwhile: the next attempt is accepted.
                Ok(Opened::Ahead { .. }) => {}
                Err(e) => {
                    self.counters.reconnect_failures.inc();
                    last = Some(e);
                }
            }
        }
    }

    /// Appends the new messages of one frame to `out`; returns how many.
    fn take_frame(&mut self, frame: &Bytes, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let start = out.len();
        let first = proto::decode_frame(frame, out)
            .map_err(|detail| TransportError::protocol("recv", detail))?;
        self.counters.frames.inc();
        self.counters.per_frame.record((out.len() - start) as u64);
        let mut kept = start;
        for i in start..out.len() {
            let pos = first + (i - start) as u64;
            if pos < self.next {
                self.counters.duplicates.inc();
                continue;
            }
            if pos > self.next {
                self.counters.gap_messages.add(pos - self.next);
            }
            self.next = pos + 1;
            out.swap(kept, i);
            kept += 1;
        }
        out.truncate(kept);
        Ok(kept - start)
    }
}

impl Subscriber for WebSocketSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let idle = self.config.dead_after();
        loop {
            let Some(ws) = self.ws.as_mut() else {
                self.reconnect().await?;
                continue;
            };
            let msg = match tokio::time::timeout(idle, ws.next()).await {
                Ok(msg) => msg,
                Err(_) => {
                    // Not even a ping for a whole ping interval plus pong timeout: the server or
                    // the path is gone.
                    self.counters.idle_timeouts.inc();
                    self.ws = None;
                    continue;
                }
            };
            match msg {
                Some(Ok(Message::Binary(frame))) => {
                    let n = self.take_frame(&frame, out)?;
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Some(Ok(Message::Ping(p))) => self.count_ping(p.len()),
                Some(Ok(Message::Close(frame))) => {
                    let f = frame.as_ref();
                    if f.map(|f| f.code) == Some(CloseCode::Policy) {
                        self.counters.slow_consumer_closes.inc();
                    }
                    // Any close (slow consumer, shutdown, pong timeout) is a reason to resume.
                    self.drop_connection().await;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => self.ws = None,
            }
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        if let Some(mut ws) = self.ws.take() {
            let bound = self.config.close_timeout;
            ws::close_with(&mut ws, CloseCode::Normal, "", bound, true).await;
        }
        Ok(())
    }
}

impl WebSocketSubscriber {
    /// Completes a close the server started (sends the reply) and forgets the connection.
    async fn drop_connection(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let bound: Duration = self.config.close_timeout;
            let _ =
                tokio::time::timeout(bound, async { while let Some(Ok(_)) = ws.next().await {} })
                    .await;
        }
    }
}
