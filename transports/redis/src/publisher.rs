//! The publisher both Redis transports share: `publish` queues the message
//! (`transport_core::publish_queue`), and one task sends whatever has queued as one pipeline
//! (`PUBLISH` or `XADD` per message, one write), waits for its replies, and only then takes
//! the next: a closed loop keeps many messages in flight per round trip, as a Redis client
//! that pipelines would, while an open loop at a low rate sends each message alone.
//!
//! After a broken connection the task reconnects (backoff) and sends the unanswered pipeline
//! again: a publish is at-least-once, and a duplicate, if the lost replies hid a delivery,
//! shows up in the harness's audit.

use bytes::Bytes;
use redis::Pipeline;
use redis::aio::MultiplexedConnection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use transport_core::publish_queue::{Inbox, Outbox, Received, publish_queue};
use transport_core::{Backoff, BackoffConfig, ClientContext, Publisher, TransportError};

use crate::conn;

/// Messages queued between `publish` and the sending task.
const QUEUE: usize = 4096;
/// Most messages in one pipeline.
const MAX_PIPELINE: usize = 1024;
/// Bound on one pipeline's replies; longer means the server is gone.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What each message becomes on the wire.
#[derive(Debug, Clone)]
pub enum Command {
    /// `PUBLISH channel message` (Pub/Sub).
    Publish,
    /// `XADD key MAXLEN ~ n * m message` (Streams).
    XAdd {
        /// The stream's approximate length cap.
        maxlen: u64,
    },
}

impl Command {
    fn append(&self, pipe: &mut Pipeline, topic: &str, msg: &[u8]) {
        match self {
            Command::Publish => pipe.cmd("PUBLISH").arg(topic).arg(msg).ignore(),
            Command::XAdd { maxlen } => pipe
                .cmd("XADD")
                .arg(topic)
                .arg("MAXLEN")
                .arg("~")
                .arg(*maxlen)
                .arg("*")
                .arg(crate::streams::FIELD)
                .arg(msg)
                .ignore(),
        };
    }
}

/// A Redis publisher.
#[derive(Debug)]
pub struct RedisPublisher {
    outbox: Outbox,
    task: JoinHandle<Result<(), TransportError>>,
}

/// Where the sending task sends, and how it reconnects.
struct Sender {
    ctx: ClientContext,
    addr: String,
    topic: String,
    command: Command,
    backoff: Backoff,
    conn: MultiplexedConnection,
}

/// Connects a publisher for `topic`: the connection is made (and its handshake counted)
/// before this returns.
pub async fn connect(
    addr: &str,
    topic: &str,
    command: Command,
    reconnect: BackoffConfig,
    ctx: ClientContext,
) -> Result<RedisPublisher, TransportError> {
    let counted = conn::multiplexed(&ctx, addr, Some(REPLY_TIMEOUT)).await?;
    counted.end_handshake();
    // Under the run's reconnect policy (full jitter, or the herd's no wait at all).
    let backoff = ctx.backoff(reconnect);
    let sender = Sender {
        ctx,
        addr: addr.to_owned(),
        topic: topic.to_owned(),
        command,
        backoff,
        conn: counted.conn,
    };
    let (outbox, inbox) = publish_queue(QUEUE);
    let task = tokio::spawn(sender.run(inbox));
    Ok(RedisPublisher { outbox, task })
}

impl Sender {
    /// Takes what has queued, sends it as pipelines, answers flushes once everything before
    /// them is answered by the server. Ends when the publisher is dropped or gives up.
    async fn run(mut self, mut inbox: Inbox) -> Result<(), TransportError> {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(first) = inbox.recv().await {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Received::Msg(m) => batch.push(m),
                    Received::Flush(done) => flushes.push(done),
                }
                if batch.len() < MAX_PIPELINE {
                    next = inbox.try_recv();
                }
            }
            if !batch.is_empty() {
                self.send(&batch).await?;
                batch.clear();
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
        Ok(())
    }

    /// Sends `batch` as one pipeline until the server answers it, reconnecting as needed.
    async fn send(&mut self, batch: &[Bytes]) -> Result<(), TransportError> {
        let mut pipe = redis::pipe();
        for m in batch {
            self.command.append(&mut pipe, &self.topic, m);
        }
        loop {
            match pipe.query_async::<()>(&mut self.conn).await {
                Ok(()) => {
                    self.backoff.reset();
                    return Ok(());
                }
                Err(e) => {
                    let e = conn::error("publish")(e);
                    if !conn::broken(&e) {
                        return Err(e);
                    }
                    self.reconnect(e).await?;
                }
            }
        }
    }

    /// A new connection after `cause`, or `cause` once the backoff gives up.
    async fn reconnect(&mut self, cause: TransportError) -> Result<(), TransportError> {
        loop {
            if !self.backoff.wait().await {
                return Err(cause);
            }
            self.ctx.counters.counter("publisher_reconnects").inc();
            if let Ok(c) = conn::multiplexed(&self.ctx, &self.addr, Some(REPLY_TIMEOUT)).await {
                c.end_handshake();
                self.conn = c.conn;
                return Ok(());
            }
        }
    }
}

impl RedisPublisher {
    /// The task's error once it has ended, or `Closed`.
    async fn failure(&mut self) -> TransportError {
        match (&mut self.task).await {
            Ok(Err(e)) => e,
            _ => TransportError::Closed { stage: "publish" },
        }
    }
}

impl Publisher for RedisPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        if self.outbox.send(msg).await {
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        if self.outbox.send_batch(msgs.to_vec()).await {
            *accepted += msgs.len();
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        let (done, answered) = oneshot::channel();
        if self.outbox.flush(done) && answered.await.is_ok() {
            return Ok(());
        }
        Err(self.failure().await)
    }

    async fn close(mut self) -> Result<(), TransportError> {
        self.flush().await?;
        drop(self.outbox);
        match self.task.await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Closed { stage: "close" }),
        }
    }
}
