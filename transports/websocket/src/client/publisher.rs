//! The publishing client: one connection to `/topics/{topic}/publish?session=S`, one binary
//! frame per message, queued for the connection's writer task, which flushes whatever frames
//! queued since its last flush at once ([`super::link`]): one frame per write at low rates, so
//! latency is the pattern's, and no syscall per frame under load.
//!
//! WebSocket has no publish acknowledgement, so the publisher proves delivery to the server with
//! the protocol's own ping/pong: the server reads a publisher's frames in order and puts each
//! message into the topic before it reads the next frame, and answers a ping only once it has
//! read it. A pong carrying mark `m` therefore proves that every message before `m` is in the
//! topic (and its resume buffer). The publisher sends a mark every [`MARK_EVERY`] messages
//! (looking after each `publish` or batch, so up to a batch later), at most [`MARK_INTERVAL`]
//! after the previous one when messages are waiting, and on `flush`; it
//! keeps the messages not yet proven (at most [`WINDOW`]; a full window makes `publish` wait).
//!
//! When the connection breaks (reset, silence, close 1001 from a restarting server) it
//! reconnects with capped exponential backoff and full jitter (`reconnect_*` options). `S` is a
//! random session id kept for the publisher's life, and the server starts every connection of
//! the session with the number of the session's messages it has put into the topic, after the
//! previous connection has stopped ([`crate::proto::publish_notice`]). The publisher drops the
//! unproven messages that count covers and resends only the rest, the one whose write failed
//! included: nothing is lost and nothing arrives twice. Only when the server does not know the
//! session (a restarted server, or one that forgot it) does it resend every unproven message,
//! and what had reached the old server arrives twice, counted by the harness as duplicates. A
//! server close that reconnecting cannot fix (1009 for an oversized message, a protocol or
//! policy violation) is returned as an error.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{Backoff, ClientContext, Counter, Publisher, TransportError};

use super::link::{ControlCounters, Ended, Link, Notice};
use crate::WebSocketConfig;
use crate::proto;

/// Why a reconnect attempt failed, and whether another attempt could succeed.
enum Reopen {
    /// Worth retrying after backoff (the server was down, the connection dropped).
    Retry,
    /// Would fail the same way again: bad configuration, or a resume count that contradicts
    /// what was sent or proven.
    GiveUp(TransportError),
}

impl From<TransportError> for Reopen {
    fn from(e: TransportError) -> Reopen {
        match e {
            TransportError::Config(_) => Reopen::GiveUp(e),
            _ => Reopen::Retry,
        }
    }
}

/// Messages between two delivery marks (pings).
pub const MARK_EVERY: u64 = 256;
/// Longest time messages wait unproven before the next `publish` sends a mark.
pub const MARK_INTERVAL: Duration = Duration::from_secs(1);
/// Unproven messages a publisher keeps before `publish` waits for a pong.
pub const WINDOW: usize = 8192;

/// Client-side counters of a publisher.
#[derive(Debug, Clone)]
struct PubCounters {
    control: ControlCounters,
    marks: Counter,
    reconnects: Counter,
    reconnect_failures: Counter,
    resent: Counter,
    resend_avoided: Counter,
    session_resets: Counter,
    epoch_resets: Counter,
}

/// A publisher on one topic.
pub struct WebSocketPublisher {
    config: WebSocketConfig,
    ctx: ClientContext,
    addr: String,
    path: String,
    link: Option<Link>,
    /// Messages not yet proven to be in the topic, oldest first.
    unproven: VecDeque<Bytes>,
    /// Index (across the publisher's life) of `unproven[0]`.
    first: u64,
    /// The server's epoch, from the last notice.
    epoch: u64,
    /// The index the server's count for the session starts from: it starts again at 0 when a
    /// server (a new incarnation, or one that forgot the session) first sees it.
    session_base: u64,
    /// Index of the last mark sent on the current connection, and when.
    marked: (u64, Instant),
    backoff: Backoff,
    counters: PubCounters,
}

impl WebSocketPublisher {
    /// Connects and upgrades; the publisher is ready when this returns.
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
        let c = &ctx.counters;
        let counters = PubCounters {
            control: ControlCounters {
                pings: c.counter("publisher_pings"),
                bytes: c.counter("control_bytes"),
            },
            marks: c.counter("publisher_marks"),
            reconnects: c.counter("publisher_reconnects"),
            reconnect_failures: c.counter("publisher_reconnect_failures"),
            resent: c.counter("publisher_resent_messages"),
            resend_avoided: c.counter("publisher_resend_avoided"),
            session_resets: c.counter("publisher_session_resets"),
            epoch_resets: c.counter("publisher_epoch_resets"),
        };
        let session = rand::random::<u64>();
        let path = format!("/topics/{topic}/publish?session={session}");
        let link = Link::open(config, &ctx, addr, &path, counters.control.clone()).await?;
        Ok(WebSocketPublisher {
            epoch: link.notice.epoch,
            session_base: 0,
            backoff: ctx.backoff(config.backoff()),
            config: config.clone(),
            addr: addr.to_owned(),
            path,
            link: Some(link),
            unproven: VecDeque::new(),
            first: 0,
            marked: (0, Instant::now()),
            counters,
            ctx,
        })
    }

    /// Index of the next message.
    fn next(&self) -> u64 {
        self.first + self.unproven.len() as u64
    }

    /// Drops proven messages; notices a connection that ended. A fatal close is an error.
    fn settle(&mut self, stage: &'static str) -> Result<(), TransportError> {
        let Some(link) = &self.link else {
            return Ok(());
        };
        let (proven, ended) = (link.proven(), link.ended());
        self.drop_until(proven.min(self.next()));
        if let Some(ended) = ended {
            if ended.is_fatal() {
                return Err(ended.error(stage));
            }
            self.link = None;
        }
        Ok(())
    }

    /// A live connection, reconnecting (and resending what is unproven) if there is none.
    async fn live(&mut self, stage: &'static str) -> Result<&mut Link, TransportError> {
        self.settle(stage)?;
        if self.link.is_none() {
            self.reconnect(stage).await?;
        }
        self.link.as_mut().ok_or(TransportError::Closed { stage })
    }

    /// Reconnects with backoff and resends what the server lacks, then a mark.
    async fn reconnect(&mut self, stage: &'static str) -> Result<(), TransportError> {
        self.link = None;
        loop {
            if !self.backoff.wait().await {
                return Err(TransportError::Closed { stage });
            }
            match self.reopen().await {
                Ok(link) => {
                    self.link = Some(link);
                    self.backoff.reset();
                    self.counters.reconnects.inc();
                    return Ok(());
                }
                Err(Reopen::GiveUp(e)) => return Err(e),
                Err(Reopen::Retry) => self.counters.reconnect_failures.inc(),
            }
        }
    }

    async fn reopen(&mut self) -> Result<Link, Reopen> {
        let control = self.counters.control.clone();
        let link = Link::open(&self.config, &self.ctx, &self.addr, &self.path, control).await?;
        // A count that contradicts what was sent or proven would only repeat.
        let held = self.resume_point(link.notice).map_err(Reopen::GiveUp)?;
        self.counters.resend_avoided.add(held - self.first);
        self.drop_until(held);
        let broken = || TransportError::Closed { stage: "resend" };
        for msg in &self.unproven {
            if !link.queue(Message::Binary(msg.clone())) {
                return Err(broken().into());
            }
        }
        self.counters.resent.add(self.unproven.len() as u64);
        let next = self.next();
        if !self.unproven.is_empty() {
            if !link.send_mark(next) {
                return Err(broken().into());
            }
            self.counters.marks.inc();
        }
        self.marked = (next, Instant::now());
        Ok(link)
    }

    /// The index of the first message the server lacks, from its notice on a new connection.
    fn resume_point(&mut self, notice: Notice) -> Result<u64, TransportError> {
        let accepted = match notice.accepted {
            Some(n) if notice.epoch == self.epoch => n,
            _ => {
                // A restarted server, or one that forgot the session: whatever was not proven
                // may be gone. Everything unproven goes again, and the server counts from here.
                if notice.epoch == self.epoch {
                    self.counters.session_resets.inc();
                } else {
                    self.counters.epoch_resets.inc();
                }
                self.epoch = notice.epoch;
                self.session_base = self.first;
                return Ok(self.first);
            }
        };
        let held = self.session_base.checked_add(accepted);
        match held {
            // Proven messages are in the topic and the server never has more than was sent.
            Some(held) if (self.first..=self.next()).contains(&held) => Ok(held),
            _ => Err(TransportError::protocol(
                "resume",
                format!(
                    "server accepted {accepted} messages of the session after {}; {} proven, {} sent",
                    self.session_base,
                    self.first,
                    self.next()
                ),
            )),
        }
    }

    /// Forgets every message before index `held` (the server has them).
    fn drop_until(&mut self, held: u64) {
        while self.first < held && self.unproven.pop_front().is_some() {
            self.first += 1;
        }
    }

    /// Sends a mark for everything sent so far; a failure drops the connection.
    async fn mark(&mut self) {
        let next = self.next();
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.send_mark(next) {
            self.counters.marks.inc();
            self.marked = (next, Instant::now());
        } else {
            self.link = None;
        }
    }

    /// Waits until every message before `target` is proven, reconnecting and resending as
    /// needed. Gives up after `reconnect_max_attempts` connections that stay silent.
    async fn prove(&mut self, target: u64, stage: &'static str) -> Result<(), TransportError> {
        let bound = self.config.dead_after();
        let mut silent = 0;
        loop {
            self.settle(stage)?;
            if self.first >= target {
                return Ok(());
            }
            self.live(stage).await?;
            if self.marked.0 < target {
                self.mark().await;
                continue;
            }
            let Some(link) = self.link.as_mut() else {
                continue;
            };
            let change = link
                .state
                .wait_for(|s| s.proven >= target || s.ended.is_some());
            // Drop the borrow at once: the reader task must be able to update the state.
            let waited = tokio::time::timeout(bound, async { change.await.is_ok() }).await;
            if waited.is_err() {
                // Not even a pong within a ping interval plus timeout: treat it as dead.
                silent += 1;
                self.link = None;
                if silent >= self.config.reconnect_max_attempts.max(1) {
                    return Err(TransportError::Timeout {
                        stage,
                        after_ms: bound.as_millis() as u64,
                    });
                }
            }
        }
    }
}

impl WebSocketPublisher {
    /// Queues one message: the part of `publish` a batch repeats per message.
    async fn queue(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.settle("publish")?;
        if self.unproven.len() >= WINDOW {
            let target = self.next() - (WINDOW / 2) as u64;
            self.prove(target, "publish").await?;
        }
        self.unproven.push_back(msg.clone());
        let sent = match self.link.as_mut() {
            Some(link) => {
                let ok = link.queue(Message::Binary(msg));
                if !ok {
                    // Give the reader a moment to see the server's close (1009 must be
                    // reported, not retried).
                    let bound = self.config.close_timeout;
                    let ended = link.state.wait_for(|s| s.ended.is_some());
                    let _ = tokio::time::timeout(bound, async { ended.await.is_ok() }).await;
                }
                ok
            }
            None => false,
        };
        if !sent {
            // The message is unproven, so the reconnect sends it again with the others.
            self.settle("publish")?;
            self.reconnect("publish").await?;
        }
        Ok(())
    }

    /// Sends a mark once [`MARK_EVERY`] messages went out since the last, or
    /// [`MARK_INTERVAL`] passed with some waiting. The clock is read only in the second case,
    /// once per call: per batch, not per message.
    async fn mark_if_due(&mut self) {
        let since = self.next() - self.marked.0;
        if since >= MARK_EVERY || (since > 0 && self.marked.1.elapsed() >= MARK_INTERVAL) {
            self.mark().await;
        }
    }
}

impl Publisher for WebSocketPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.queue(msg).await?;
        self.mark_if_due().await;
        Ok(())
    }

    /// Queues each message as `publish` does, and looks at the marks once for the batch.
    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        for m in msgs {
            self.queue(m.clone()).await?;
            *accepted += 1;
        }
        self.mark_if_due().await;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let target = self.next();
        self.prove(target, "flush").await
    }

    async fn close(mut self) -> Result<(), TransportError> {
        // A server that already closed (shutdown) leaves nothing to flush to.
        // A broken connection is flushed over a new one.
        if let Some(ended @ Ended::Closed { .. }) = self.link.as_ref().and_then(Link::ended) {
            return if ended.is_fatal() {
                Err(ended.error("close"))
            } else {
                Ok(())
            };
        }
        self.flush().await?;
        let bound = self.config.close_timeout;
        if let Some(link) = self.link.take() {
            let bye = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            // The reader task sees the server's reply and ends.
            link.finish(Message::Close(Some(bye)), bound).await;
        }
        Ok(())
    }
}
