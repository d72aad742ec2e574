//! The raw-TCP publisher: each message is one frame, flushed at once (no client-side batching).
//! It keeps the messages the server has not confirmed, so a broken connection loses nothing: on
//! reconnect the server says how many of this session's messages it relayed and the rest go out
//! again. Confirmations come from syncs it sends now and then without waiting for the answer.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use transport_core::{ClientContext, Counter, Publisher, TransportError};

use super::{Accepted, Conn, Redial, read_frame};
use crate::RawTcpConfig;
use crate::proto::{self, Hello};

/// Sends each message as one frame and resends what a broken connection swallowed.
pub struct RawTcpPublisher {
    conn: Conn,
    redial: Redial,
    session: u64,
    epoch: u64,
    /// Messages handed to a socket so far.
    sent: u64,
    /// What the server's relay count for the session is relative to: it restarts at 0 with a
    /// new server incarnation, and misses whatever fell out of `recent` before it was resent.
    session_base: u64,
    /// The most recent messages, oldest first: positions `sent - recent.len() .. sent`.
    recent: VecDeque<Bytes>,
    recent_bytes: usize,
    resend_limit: usize,
    sync_every: u32,
    sync_interval: Duration,
    /// Messages since the last sync, and when it went out.
    since_sync: u32,
    last_sync: Instant,
    /// Syncs sent on this connection whose answer has not been read yet.
    syncs_outstanding: u32,
    resent: Counter,
    resend_gaps: Counter,
    epoch_resets: Counter,
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
        Ok(RawTcpPublisher {
            conn,
            redial,
            session,
            epoch: accepted.epoch,
            sent: 0,
            session_base: 0,
            recent: VecDeque::new(),
            recent_bytes: 0,
            resend_limit: config.resend_buffer_bytes,
            sync_every: config.sync_every_messages,
            sync_interval: config.sync_interval,
            since_sync: 0,
            last_sync: Instant::now(),
            syncs_outstanding: 0,
            resent: counters.counter("publisher_resent"),
            resend_gaps: counters.counter("publisher_resend_gaps"),
            epoch_resets: counters.counter("publisher_epoch_resets"),
        })
    }

    fn remember(&mut self, msg: Bytes) {
        self.recent_bytes += msg.len();
        self.recent.push_back(msg);
        while self.recent_bytes > self.resend_limit && self.recent.len() > 1 {
            self.forget_oldest();
        }
        self.sent += 1;
    }

    fn forget_oldest(&mut self) {
        if let Some(old) = self.recent.pop_front() {
            self.recent_bytes -= old.len();
        }
    }

    /// Forgets every message at a position below `relayed`.
    fn confirmed(&mut self, relayed: u64) {
        let oldest = self.sent - self.recent.len() as u64;
        for _ in oldest..relayed.min(self.sent) {
            self.forget_oldest();
        }
    }

    /// Reconnects until a connection takes the resend of everything the server has not relayed.
    #[cold]
    async fn reconnect(&mut self, mut cause: TransportError) -> Result<(), TransportError> {
        loop {
            let hello = Hello::Publisher {
                session: self.session,
            };
            let (conn, accepted) = self.redial.again(hello, cause).await?;
            self.conn = conn;
            match self.resend(accepted).await {
                Ok(()) => return Ok(()),
                Err(e) => cause = e,
            }
        }
    }

    async fn resend(&mut self, accepted: Accepted) -> Result<(), TransportError> {
        self.syncs_outstanding = 0;
        let oldest = self.sent - self.recent.len() as u64;
        if accepted.epoch != self.epoch {
            // A restarted server: it knows nothing of this session, and whatever the old one
            // did not confirm may have died with it. Send all of it again; what the old server
            // had relayed arrives twice, which the harness counts as duplicates.
            if accepted.position != 0 {
                return Err(TransportError::protocol(
                    "resume",
                    "a new server incarnation claims to know this session",
                ));
            }
            self.epoch_resets.inc();
            self.epoch = accepted.epoch;
            self.session_base = oldest;
        }
        let mut relayed = self.session_base + accepted.position;
        if relayed > self.sent {
            return Err(TransportError::protocol(
                "resume",
                format!("server relayed {relayed} messages of {} sent", self.sent),
            ));
        }
        if relayed < oldest {
            // Older than the resend buffer: lost, and the server's count now runs behind.
            self.resend_gaps.add(oldest - relayed);
            self.session_base += oldest - relayed;
            relayed = oldest;
        }
        self.confirmed(relayed);
        for msg in &self.recent {
            self.conn
                .feed(msg.clone())
                .await
                .map_err(TransportError::io("resend"))?;
        }
        self.resent.add(self.recent.len() as u64);
        SinkExt::<Bytes>::flush(&mut self.conn)
            .await
            .map_err(TransportError::io("resend"))
    }

    /// Handles a sync answer: everything up to its count has been relayed.
    fn on_sync_reply(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        let count =
            proto::parse_sync_reply(frame).map_err(|d| TransportError::protocol("sync", d))?;
        self.syncs_outstanding = self.syncs_outstanding.saturating_sub(1);
        self.confirmed(self.session_base + count);
        Ok(())
    }

    /// Reads whatever sync answers already arrived, without waiting. An end of stream here is
    /// the earliest sign of a broken connection: the server never closes a publisher otherwise.
    fn poll_replies(&mut self) -> Result<(), TransportError> {
        while let Some(frame) = self.conn.next().now_or_never() {
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

    /// Sends one message, and a sync after it when one is due, in a single write.
    async fn send(&mut self, msg: Bytes) -> Result<(), io::Error> {
        self.conn.feed(msg).await?;
        self.since_sync += 1;
        if self.since_sync >= self.sync_every || self.last_sync.elapsed() >= self.sync_interval {
            self.conn.feed(Bytes::new()).await?;
            self.syncs_outstanding += 1;
            self.since_sync = 0;
            self.last_sync = Instant::now();
        }
        SinkExt::<Bytes>::flush(&mut self.conn).await
    }

    /// One awaited sync: the server's relay count after everything written so far.
    async fn sync(&mut self) -> Result<(), TransportError> {
        self.conn
            .send(Bytes::new())
            .await
            .map_err(TransportError::io("sync"))?;
        self.syncs_outstanding += 1;
        // Answers come in order: the last one covers everything.
        while self.syncs_outstanding > 0 {
            let reply = read_frame(&mut self.conn, "sync reply").await?;
            self.on_sync_reply(&reply)?;
        }
        Ok(())
    }
}

impl Publisher for RawTcpPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        if let Err(cause) = self.poll_replies() {
            if matches!(cause, TransportError::Protocol { .. }) {
                return Err(cause);
            }
            self.reconnect(cause).await?;
        }
        self.remember(msg.clone());
        match self.send(msg).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                // The codec refused the frame (too large): nothing was written.
                self.recent.pop_back();
                self.sent -= 1;
                Err(TransportError::Io {
                    stage: "publish",
                    source: e,
                })
            }
            Err(e) => {
                let cause = TransportError::Io {
                    stage: "publish",
                    source: e,
                };
                self.reconnect(cause).await
            }
        }
    }

    /// Returns once the server has relayed every message: a write into a socket that already
    /// broke succeeds locally, so only the server's count proves delivery to it.
    async fn flush(&mut self) -> Result<(), TransportError> {
        loop {
            match self.sync().await {
                Ok(()) => return Ok(()),
                Err(e @ TransportError::Protocol { .. }) => return Err(e),
                Err(cause) => self.reconnect(cause).await?,
            }
        }
    }

    async fn close(mut self) -> Result<(), TransportError> {
        SinkExt::<Bytes>::close(&mut self.conn)
            .await
            .map_err(TransportError::io("close"))
    }
}
