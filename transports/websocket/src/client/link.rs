//! One publisher connection: the session notice read right after the upgrade, a writer task
//! that owns the write half, and a reader task that answers server pings, collects the pongs that prove which messages
//! the server has taken, and notices the end of the connection (a close frame, a reset, end of
//! stream).
//!
//! The writer task takes every frame queued since its last flush, feeds them all and flushes
//! once: each message is still its own frame, but frames queued together share one write
//! instead of one syscall each. Its queue needs no bound of its own: every data frame in it is
//! also an unproven message, which the publisher's window bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{ClientContext, Counter, TransportError};

use crate::WebSocketConfig;
use crate::proto;
use crate::ws::{self, Ws, control_len, describe_close};

/// How a connection ended.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// The server sent a close frame.
    Closed {
        /// Its code.
        code: CloseCode,
        /// Code and reason, for errors.
        detail: String,
    },
    /// Reset, end of stream, or a read error.
    Broken,
}

impl Ended {
    /// Whether reconnecting cannot help: the server refused what we sent (1009 too big, a
    /// protocol or policy violation), not the connection.
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(
            self,
            Ended::Closed {
                code: CloseCode::Size
                    | CloseCode::Protocol
                    | CloseCode::Unsupported
                    | CloseCode::Invalid
                    | CloseCode::Policy,
                ..
            }
        )
    }

    /// The error a publisher reports for it.
    pub(crate) fn error(&self, stage: &'static str) -> TransportError {
        match self {
            Ended::Closed { detail, .. } => TransportError::Refused {
                stage,
                detail: format!("server sent {detail}"),
            },
            Ended::Broken => TransportError::Closed { stage },
        }
    }
}

/// What the reader task has seen so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkState {
    /// The highest mark a pong proved: every message before it is in the topic.
    pub proven: u64,
    /// Set once the connection is over.
    pub ended: Option<Ended>,
}

/// Counters the reader task updates.
#[derive(Debug, Clone)]
pub(crate) struct ControlCounters {
    /// Server pings answered.
    pub pings: Counter,
    /// Bytes of control frames, both directions.
    pub bytes: Counter,
}

/// What the server said about the session when the connection opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Notice {
    /// Messages of the session the server has put into the topic; `None` if it did not know
    /// the session.
    pub accepted: Option<u64>,
    /// The server's epoch.
    pub epoch: u64,
}

/// Frames fed between two flushes at most.
const WRITE_BATCH: usize = 256;

/// A live publisher connection.
pub(crate) struct Link {
    /// Frames for the writer task, in order; `None` once closed.
    frames: Option<mpsc::UnboundedSender<Message>>,
    /// Set by the writer task when a write failed: the connection is unusable.
    write_failed: Arc<AtomicBool>,
    pub state: watch::Receiver<LinkState>,
    pub notice: Notice,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Link {
    /// Connects and upgrades on `path` (which names a session), and reads the server's notice.
    pub async fn open(
        config: &WebSocketConfig,
        ctx: &ClientContext,
        addr: &str,
        path: &str,
        counters: ControlCounters,
    ) -> Result<Link, TransportError> {
        let bound = config.dead_after();
        let (mut ws, flag) = ws::connect(ctx, addr, path, config.tungstenite(1024), bound).await?;
        // The server may first wait up to `dead_after` for a previous connection of the
        // session to stop; the close handshake of a refusal comes on top.
        let notice = tokio::time::timeout(
            bound.saturating_add(config.close_timeout),
            read_notice(&mut ws, &counters),
        )
        .await
        .map_err(|_| TransportError::Timeout {
            stage: "publish notice",
            after_ms: bound.saturating_add(config.close_timeout).as_millis() as u64,
        })??;
        flag.end();
        let (sink, stream) = ws.split();
        let (tx, state) = watch::channel(LinkState::default());
        let tx = Arc::new(tx);
        let reader = tokio::spawn(read_control(stream, tx.clone(), counters));
        let (frames, queued) = mpsc::unbounded_channel();
        let write_failed = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_queued(sink, queued, (write_failed.clone(), tx)));
        Ok(Link {
            frames: Some(frames),
            write_failed,
            state,
            notice,
            reader,
            writer,
        })
    }

    /// Queues `frame` for the writer task; false if the connection can no longer write.
    pub fn queue(&self, frame: Message) -> bool {
        !self.write_failed.load(Ordering::Relaxed)
            && self.frames.as_ref().is_some_and(|f| f.send(frame).is_ok())
    }

    /// How the connection ended, if it has.
    pub fn ended(&self) -> Option<Ended> {
        self.state.borrow().ended.clone()
    }

    /// The highest proven mark.
    pub fn proven(&self) -> u64 {
        self.state.borrow().proven
    }

    /// Queues a ping carrying `mark` behind the messages queued so far; its pong proves every
    /// message before `mark`. False if the connection can no longer write.
    pub fn send_mark(&self, mark: u64) -> bool {
        let payload = Bytes::copy_from_slice(&mark.to_be_bytes());
        self.queue(Message::Ping(payload))
    }

    /// Queues `last` as the final frame, then waits for both tasks, at most `bound` in all, and
    /// stops whatever is still running.
    pub async fn finish(mut self, last: Message, bound: std::time::Duration) {
        self.queue(last);
        // The writer ends once it has written everything queued.
        self.frames = None;
        let tasks = async {
            let _ = (&mut self.writer).await;
            let _ = (&mut self.reader).await;
        };
        let _ = tokio::time::timeout(bound, tasks).await;
    }
}

impl Drop for Link {
    /// Whatever the writer had not written is unproven, so the next connection sends it again.
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// The writer task: feeds every queued frame, flushing once per batch. A failed write ends
/// the link at once: waiting for the reader to notice could take until the next ping (a cut
/// connection's read side may stay quiet), and a mark queued behind it is never proven.
async fn write_queued(
    mut sink: SplitSink<Ws, Message>,
    mut queued: mpsc::UnboundedReceiver<Message>,
    (failed, state): (Arc<AtomicBool>, Arc<watch::Sender<LinkState>>),
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while queued.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let write = async {
            for frame in batch.drain(..) {
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        if write.await.is_err() {
            failed.store(true, Ordering::Relaxed);
            state.send_modify(|s| {
                s.ended.get_or_insert(Ended::Broken);
            });
            return;
        }
    }
}

/// Reads the session notice, the first data message a session publisher receives.
async fn read_notice(ws: &mut Ws, counters: &ControlCounters) -> Result<Notice, TransportError> {
    const STAGE: &str = "publish notice";
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let (accepted, epoch) = proto::parse_publish_notice(&t).ok_or_else(|| {
                    TransportError::protocol(STAGE, format!("unexpected notice {t:?}"))
                })?;
                return Ok(Notice { accepted, epoch });
            }
            Some(Ok(Message::Ping(p))) => {
                counters.pings.inc();
                let n = control_len(p.len(), false) + control_len(p.len(), true);
                counters.bytes.add(n as u64);
            }
            Some(Ok(Message::Close(frame))) => {
                // 1013 (sessions full, predecessor busy) is worth retrying; the caller
                // decides.
                return Err(TransportError::Refused {
                    stage: STAGE,
                    detail: format!("server sent {}", describe_close(frame.as_ref())),
                });
            }
            Some(Ok(other)) => {
                return Err(TransportError::protocol(
                    STAGE,
                    format!("expected the notice, got a {} message", kind(&other)),
                ));
            }
            Some(Err(e)) => return Err(ws::ws_error(STAGE)(e)),
            None => return Err(TransportError::Closed { stage: STAGE }),
        }
    }
}

fn kind(msg: &Message) -> &'static str {
    match msg {
        Message::Binary(_) => "binary",
        Message::Pong(_) => "pong",
        _ => "control",
    }
}

/// Reads what the server sends a publisher: pings (answered by tungstenite), pongs to our marks,
/// and its close.
async fn read_control(
    mut stream: SplitStream<Ws>,
    state: Arc<watch::Sender<LinkState>>,
    counters: ControlCounters,
) {
    let end = loop {
        match stream.next().await {
            Some(Ok(Message::Ping(p))) => {
                counters.pings.inc();
                let n = control_len(p.len(), false) + control_len(p.len(), true);
                counters.bytes.add(n as u64);
            }
            Some(Ok(Message::Pong(p))) => {
                // Our ping went out masked; the pong comes back unmasked.
                let n = control_len(p.len(), true) + control_len(p.len(), false);
                counters.bytes.add(n as u64);
                if let Ok(mark) = <[u8; 8]>::try_from(p.as_ref()) {
                    let mark = u64::from_be_bytes(mark);
                    state.send_if_modified(|s| {
                        let newer = mark > s.proven;
                        s.proven = s.proven.max(mark);
                        newer
                    });
                }
            }
            Some(Ok(Message::Close(frame))) => {
                let f = frame.as_ref();
                break Ended::Closed {
                    code: f.map_or(CloseCode::Status, |f| f.code),
                    detail: describe_close(f),
                };
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break Ended::Broken,
        }
    };
    state.send_modify(|s| s.ended = Some(end));
    // Keep reading until the stream ends so tungstenite can answer the close handshake.
    while let Some(Ok(_)) = stream.next().await {}
}
