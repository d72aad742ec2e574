//! The raw-TCP publisher: each message is one frame, queued for the connection's writing task,
//! which writes whatever queued since its last write at once ([`super::writer`]): one frame per
//! write at low rates, many under load, with the same bytes on the wire either way.
//! It keeps every message the server has not confirmed, so a broken connection loses nothing:
//! on reconnect the server says how many of this session's messages it relayed and the rest go
//! out again. Confirmations come from syncs sent now and then without waiting for the answer;
//! only when the unconfirmed messages would pass `resend_buffer_bytes` does it wait for one,
//! which makes the buffer a window rather than a place where messages fall out.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use transport_core::{ClientContext, ConnRead, Counter, Publisher, TransportError};

use super::conn::{Accepted, Conn, Redial, read_frame};
use super::unconfirmed::Unconfirmed;
use super::writer::Writer;
use crate::RawTcpConfig;
use crate::proto::{self, Hello};

/// How long an awaited sync answer may take before the connection is presumed dead (a peer
/// that vanished without a reset would otherwise hold the publisher forever).
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// A monotonic clock cheap enough to read per message (no hardware counter read: the kernel's
/// last tick). Its few milliseconds of resolution are nothing against a sync interval; a full
/// clock read per message was 3% of a closed-loop run's CPU.
fn coarse_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        // Every Linux has this clock; without it, syncs fall back to the message count.
        .unwrap_or_default()
}

/// Messages between two looks for sync answers (a look is a poll of the socket and a lock).
const POLL_REPLIES_EVERY: u64 = 32;

/// The read half of a publisher's connection: only sync answers arrive on it.
type Replies = FramedRead<ConnRead, LengthDelimitedCodec>;

/// Splits a connection after its handshake into the reader of sync answers and the writer.
fn split(conn: Conn) -> (Replies, Writer) {
    let parts = conn.into_parts();
    let (read, write) = parts.io.into_split();
    let mut replies = FramedRead::new(read, parts.codec);
    // Whatever arrived behind the hello reply is not lost in the split.
    replies.read_buffer_mut().extend_from_slice(&parts.read_buf);
    (replies, Writer::spawn(write))
}

/// Sends each message as one frame and resends what a broken connection swallowed.
pub struct RawTcpPublisher {
    replies: Replies,
    writer: Writer,
    redial: Redial,
    session: u64,
    epoch: u64,
    /// Messages handed to a socket so far.
    sent: u64,
    /// What the server's relay count for the session is relative to: the count starts again
    /// at 0 when a server incarnation (or a server that forgot the session) first sees it.
    session_base: u64,
    /// Unconfirmed messages, oldest first: positions `sent - recent.count() .. sent`.
    recent: Unconfirmed,
    resend_limit: usize,
    max_frame_bytes: usize,
    sync_every: u32,
    sync_interval: Duration,
    /// Messages since the last sync, and when it went out.
    since_sync: u32,
    /// When the last sync went out, on [`coarse_now`]'s clock.
    last_sync: Duration,
    /// Syncs sent on this connection whose answer has not been read yet.
    syncs_outstanding: u32,
    resent: Counter,
    epoch_resets: Counter,
    session_resets: Counter,
    window_waits: Counter,
}

fn overflow(what: &str) -> TransportError {
    TransportError::protocol("resume", format!("{what} overflows"))
}

impl RawTcpPublisher {
    pub(crate) async fn connect(
        config: &RawTcpConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let session = rand::random::<u64>();
        let counters = ctx.counters.clone();
        let redial = Redial::new(config, addr, topic, "publisher_", ctx);
        let (conn, accepted) = redial.first(Hello::Publisher { session }).await?;
        let (replies, writer) = split(conn);
        Ok(RawTcpPublisher {
            replies,
            writer,
            redial,
            session,
            epoch: accepted.epoch,
            sent: 0,
            session_base: 0,
            recent: Unconfirmed::new(),
            resend_limit: config.resend_buffer_bytes,
            max_frame_bytes: config.max_frame_bytes,
            sync_every: config.sync_every_messages,
            sync_interval: config.sync_interval,
            since_sync: 0,
            last_sync: coarse_now(),
            syncs_outstanding: 0,
            resent: counters.counter("publisher_resent"),
            epoch_resets: counters.counter("publisher_epoch_resets"),
            session_resets: counters.counter("publisher_session_resets"),
            window_waits: counters.counter("publisher_window_waits"),
        })
    }

    fn oldest(&self) -> u64 {
        self.sent - self.recent.count()
    }

    /// Forgets every message at a position below `relayed`.
    fn confirmed(&mut self, relayed: u64) {
        let oldest = self.oldest();
        self.recent
            .confirm(relayed.min(self.sent).saturating_sub(oldest));
    }

    /// Reconnects until a connection takes the resend of everything the server has not
    /// relayed. A protocol error is final: retrying would only repeat it.
    #[cold]
    async fn reconnect(&mut self, mut cause: TransportError) -> Result<(), TransportError> {
        loop {
            let hello = Hello::Publisher {
                session: self.session,
            };
            let (conn, accepted) = self.redial.again(hello, cause).await?;
            let (replies, writer) = split(conn);
            self.replies = replies;
            // What the old connection had not written yet is among the unconfirmed messages
            // resent below.
            std::mem::replace(&mut self.writer, writer).abort();
            match self.resend(accepted).await {
                Ok(()) => {
                    self.redial.settled();
                    return Ok(());
                }
                Err(e @ TransportError::Protocol { .. }) => return Err(e),
                Err(e) => cause = e,
            }
        }
    }

    async fn resend(&mut self, accepted: Accepted) -> Result<(), TransportError> {
        self.syncs_outstanding = 0;
        let oldest = self.oldest();
        let relayed = if accepted.epoch != self.epoch || accepted.position == proto::UNKNOWN_SESSION
        {
            // A restarted server, or one that forgot the session: whatever it had not
            // confirmed may be gone. Send all of it again; what had been relayed arrives twice,
            // and the harness counts those duplicates.
            if accepted.epoch != self.epoch {
                self.epoch_resets.inc();
            } else {
                self.session_resets.inc();
            }
            self.epoch = accepted.epoch;
            self.session_base = oldest;
            oldest
        } else {
            let relayed = self
                .session_base
                .checked_add(accepted.position)
                .ok_or_else(|| overflow("relay count"))?;
            if relayed > self.sent || relayed < oldest {
                // Confirmed messages are relayed ones, so the count can be neither.
                return Err(TransportError::protocol(
                    "resume",
                    format!(
                        "server relayed {relayed} messages; {oldest} confirmed, {} sent",
                        self.sent
                    ),
                ));
            }
            relayed
        };
        self.confirmed(relayed);
        self.writer
            .queue_encoded(self.recent.encoded(), false)
            .map_err(TransportError::io("resend"))?;
        self.resent.add(self.recent.count());
        Ok(())
    }

    /// Handles a sync answer: everything up to its count has been relayed.
    fn on_sync_reply(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        let count =
            proto::parse_sync_reply(frame).map_err(|d| TransportError::protocol("sync", d))?;
        let relayed = self
            .session_base
            .checked_add(count)
            .ok_or_else(|| overflow("sync count"))?;
        self.syncs_outstanding = self.syncs_outstanding.saturating_sub(1);
        self.confirmed(relayed);
        Ok(())
    }

    /// Reads whatever sync answers already arrived, without waiting. An end of stream here is
    /// the earliest sign of a broken connection: the server never closes a publisher otherwise.
    fn poll_replies(&mut self) -> Result<(), TransportError> {
        self.writer
            .failed()
            .map_err(TransportError::io("publish"))?;
        while let Some(frame) = self.replies.next().now_or_never() {
            match frame {
                Some(Ok(f)) => self.on_sync_reply(&f)?,
                Some(Err(e)) => {
                    return Err(TransportError::Io {
                        stage: "read sync reply",
                        source: e,
                    });
                }
                None => return Err(TransportError::Closed { stage: "publish" }),
            }
        }
        Ok(())
    }

    fn sync_sent(&mut self) {
        self.syncs_outstanding += 1;
        self.since_sync = 0;
        self.last_sync = coarse_now();
    }

    /// Queues the frames of messages just kept, and a sync after them when one is due, for
    /// one write.
    fn send(&mut self, frames: &[u8], count: usize) -> Result<(), io::Error> {
        self.since_sync = self.since_sync.saturating_add(count as u32);
        let sync = self.since_sync >= self.sync_every
            || self.recent.body_bytes() >= self.resend_limit / 2
            || coarse_now().saturating_sub(self.last_sync) >= self.sync_interval;
        self.writer.queue_encoded([frames], sync)?;
        if sync {
            self.sync_sent();
        }
        Ok(())
    }

    /// Refuses a message before anything is counted or written: an empty frame is a sync, and
    /// the codec would refuse a frame past the limit.
    fn check_size(&self, msg: &[u8]) -> Result<(), TransportError> {
        if !msg.is_empty() && msg.len() <= self.max_frame_bytes {
            return Ok(());
        }
        Err(TransportError::Io {
            stage: "publish",
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "message of {} bytes; allowed: 1..={}",
                    msg.len(),
                    self.max_frame_bytes
                ),
            ),
        })
    }

    /// Reads the sync answers that arrived, reconnecting if that shows a broken connection.
    async fn take_replies(&mut self) -> Result<(), TransportError> {
        match self.poll_replies() {
            Ok(()) => Ok(()),
            Err(cause @ TransportError::Protocol { .. }) => Err(cause),
            Err(cause) => self.reconnect(cause).await,
        }
    }

    /// Keeps `msgs` (`bytes` in all) as unconfirmed and queues them; a broken connection is
    /// redialled and they go out again with the rest of the unconfirmed messages.
    async fn send_unconfirmed(
        &mut self,
        msgs: &[Bytes],
        bytes: usize,
    ) -> Result<(), TransportError> {
        self.sent += msgs.len() as u64;
        // Kept before the write is queued: if the connection turns out broken, the reconnect
        // resends them with the rest.
        let frames = self.recent.push(msgs, bytes);
        if let Err(e) = self.send(&frames, msgs.len()) {
            let cause = TransportError::Io {
                stage: "publish",
                source: e,
            };
            self.reconnect(cause).await?;
        }
        Ok(())
    }

    /// Asks for a sync unless one is on its way, and waits for the next answer.
    async fn await_sync(&mut self) -> Result<(), TransportError> {
        if self.syncs_outstanding == 0 {
            self.writer
                .queue_sync()
                .map_err(TransportError::io("sync"))?;
            self.sync_sent();
        }
        let reply = tokio::time::timeout(SYNC_TIMEOUT, read_frame(&mut self.replies, "sync reply"))
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "sync reply",
                after_ms: SYNC_TIMEOUT.as_millis() as u64,
            })??;
        self.on_sync_reply(&reply)
    }

    /// Runs `await_sync` until `done` holds, reconnecting (and resending) on breaks.
    async fn sync_until(&mut self, done: impl Fn(&Self) -> bool) -> Result<(), TransportError> {
        while !done(self) {
            match self.await_sync().await {
                Ok(()) => {}
                Err(e @ TransportError::Protocol { .. }) => return Err(e),
                Err(cause) => self.reconnect(cause).await?,
            }
        }
        Ok(())
    }
}

impl Publisher for RawTcpPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.check_size(&msg)?;
        // Answers are looked for every few messages, not per message: they only free the
        // resend buffer, and a broken write shows in `send` at once anyway.
        if self.sent.is_multiple_of(POLL_REPLIES_EVERY) {
            self.take_replies().await?;
        }
        let len = msg.len();
        if !self.recent.is_empty() && self.recent.body_bytes() + len > self.resend_limit {
            // The window is full: wait for the server to confirm before sending more.
            self.window_waits.inc();
            let limit = self.resend_limit;
            self.sync_until(|p| p.recent.is_empty() || p.recent.body_bytes() + len <= limit)
                .await?;
        }
        self.send_unconfirmed(std::slice::from_ref(&msg), len).await
    }

    /// One look for answers, one lock and one queued write for the whole batch, when it fits
    /// the resend window as it is; otherwise one `publish` each, with its waits.
    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        let bytes: usize = msgs.iter().map(Bytes::len).sum();
        let fits = self.recent.body_bytes() + bytes <= self.resend_limit
            && msgs.iter().all(|m| self.check_size(m).is_ok());
        if !fits {
            for m in msgs {
                self.publish(m.clone()).await?;
                *accepted += 1;
            }
            return Ok(());
        }
        self.take_replies().await?;
        self.send_unconfirmed(msgs, bytes).await?;
        *accepted += msgs.len();
        Ok(())
    }

    /// Returns once the server has relayed every message: a write into a socket that already
    /// broke succeeds locally, so only the server's count proves delivery to it.
    async fn flush(&mut self) -> Result<(), TransportError> {
        // Answers already on their way may predate the last messages; `await_sync` asks
        // anew whenever none is outstanding, and a reconnect resends and asks again.
        self.sync_until(|p| p.recent.is_empty()).await
    }

    async fn close(self) -> Result<(), TransportError> {
        self.writer
            .close()
            .await
            .map_err(TransportError::io("close"))
    }
}
