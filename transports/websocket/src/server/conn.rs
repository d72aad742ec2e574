//! The subscriber connection loop of the server (replay, live queue, coalescing, slow-consumer
//! kick), and what it shares with the publisher loop ([`super::publish`]): keepalive pings,
//! bounded writes, incoming control frames and the close handshake on shutdown.
//!
//! Each connection is one task running one `select!`, biased so that shutdown and kicks win
//! over more data, and incoming frames (pongs) are read before a pong deadline is judged.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use transport_core::HandshakeFlag;
use transport_core::occupancy::QueueShare;

use super::shared::Shared;
use super::topic::{Item, Join, Start};
use crate::proto::{self, CLOSE_AHEAD, CLOSE_GAP};
use crate::ws::{Ws, close_with, control_len};

/// Bytes of frames written with one flush at most.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Why a connection loop ended, when it ends by itself.
pub(crate) enum End {
    /// Close with this code and reason; `drain` waits for the peer's close frame.
    Close(CloseCode, String, bool),
    /// The peer sent a Close frame: tungstenite has queued the echo of its code (RFC 6455
    /// §5.5.1); flush it, then close TCP.
    Echo,
    /// The peer is gone: nothing more to send.
    Gone,
}

/// Server pings: one outstanding at a time, closed with 1011 if unanswered in time.
pub(crate) struct Keepalive {
    pub(crate) tick: Interval,
    pub(crate) outstanding: bool,
    /// Armed when a ping goes out; one timer reused, so the hot loop allocates none.
    pub(crate) deadline: Pin<Box<Sleep>>,
    pong_timeout: Duration,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, pong_timeout: Duration) -> Self {
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Keepalive {
            tick,
            outstanding: false,
            deadline: Box::pin(tokio::time::sleep(pong_timeout)),
            pong_timeout,
        }
    }
}

/// Sends `msg`, treating a write that makes no progress for `dead_after` as a dead peer.
pub(crate) async fn send(shared: &Shared, ws: &mut Ws, msg: Message) -> Result<(), End> {
    match tokio::time::timeout(shared.config.dead_after(), ws.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => {
            shared.counters.write_stalls.inc();
            Err(End::Close(CloseCode::Error, "write stalled".into(), false))
        }
    }
}

/// Sends a ping on a tick unless one is still unanswered, and arms the pong deadline.
pub(crate) async fn ping(shared: &Shared, ws: &mut Ws, ka: &mut Keepalive) -> Result<(), End> {
    if !ka.outstanding {
        shared.counters.pings.inc();
        shared
            .counters
            .control_bytes
            .add(control_len(0, false) as u64);
        send(shared, ws, Message::Ping(Bytes::new())).await?;
        ka.outstanding = true;
        let at = Instant::now() + ka.pong_timeout;
        ka.deadline.as_mut().reset(at);
    }
    Ok(())
}

pub(crate) fn pong_timeout(shared: &Shared) -> End {
    shared.counters.pong_timeouts.inc();
    End::Close(CloseCode::Error, "pong timeout".into(), false)
}

/// Accounts for an incoming frame every loop treats the same; `Err` ends the loop.
pub(crate) fn incoming_control(
    shared: &Shared,
    ka: &mut Keepalive,
    msg: Option<Result<Message, WsError>>,
) -> Result<Option<Message>, End> {
    match msg {
        Some(Ok(Message::Pong(p))) => {
            shared.counters.pongs.inc();
            shared
                .counters
                .control_bytes
                .add(control_len(p.len(), true) as u64);
            ka.outstanding = false;
            Ok(None)
        }
        Some(Ok(Message::Ping(p))) => {
            // tungstenite queues the pong reply itself.
            let len = control_len(p.len(), true) + control_len(p.len(), false);
            shared.counters.control_bytes.add(len as u64);
            Ok(None)
        }
        Some(Ok(Message::Close(_))) => Err(End::Echo),
        Some(Ok(Message::Frame(_))) => Ok(None),
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(WsError::Capacity(e))) => {
            shared.counters.oversize_closes.inc();
            // No drain: reading on would buffer the oversized payload we just refused.
            Err(End::Close(CloseCode::Size, e.to_string(), false))
        }
        Some(Err(_)) | None => Err(End::Gone),
    }
}

pub(crate) async fn finish(shared: &Shared, mut ws: Ws, end: End) {
    match end {
        End::Close(code, reason, drain) => {
            close_with(&mut ws, code, &reason, shared.config.close_timeout, drain).await;
        }
        // Sending a Close of our own now would fail (tungstenite refuses to write after the
        // peer's Close), and the queued echo would never leave: a browser then sees 1006.
        // Flushing writes the echo; dropping `ws` closes TCP, server first as §7.1.1 asks.
        End::Echo => {
            let _ = tokio::time::timeout(shared.config.close_timeout, ws.flush()).await;
        }
        End::Gone => {}
    }
}

/// Runs a subscriber connection: notice, replay, live frames, until closed. `epoch` is the
/// server epoch the client says `from` belongs to.
pub(crate) async fn run_subscriber(
    shared: &Shared,
    mut ws: Ws,
    flag: HandshakeFlag,
    topic: &str,
    from: Option<u64>,
    epoch: Option<u64>,
) {
    let Some(t) = shared.topics.get(topic) else {
        let end = End::Close(CloseCode::Again, "too many topics".into(), true);
        return finish(shared, ws, end).await;
    };
    let join = tokio::select! {
        _ = shared.cancel.cancelled() => {
            let end = End::Close(CloseCode::Away, "server shutting down".into(), true);
            return finish(shared, ws, end).await;
        }
        j = t.subscribe(start(shared, from, epoch), shared.config.send_queue_messages, &shared.fanout) => j,
    };
    let (position, mut pending, mut rx, mut kick, queued) = match join {
        Join::Live {
            position,
            replay,
            rx,
            kick,
            queued,
        } => (position, replay, rx, kick, queued),
        Join::Gap { earliest } => {
            shared.counters.gap_refusals.inc();
            let reason = format!("earliest={earliest}");
            let end = End::Close(CloseCode::Library(CLOSE_GAP), reason, true);
            return finish(shared, ws, end).await;
        }
        Join::Ahead { next } => {
            let reason = format!("next={next}");
            let end = End::Close(CloseCode::Library(CLOSE_AHEAD), reason, true);
            return finish(shared, ws, end).await;
        }
    };
    if from.is_some() {
        shared.counters.resumes.inc();
        shared.counters.replayed_messages.add(pending.len() as u64);
    }
    let notice = Message::Text(proto::subscribed_notice(position, shared.epoch).into());
    if let Err(end) = send(shared, &mut ws, notice).await {
        return finish(shared, ws, end).await;
    }
    flag.end();
    let mut ka = Keepalive::new(shared.config.ping_interval, shared.config.pong_timeout);
    let end = loop {
        let step = tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => {
                Err(End::Close(CloseCode::Away, "server shutting down".into(), true))
            }
            at = &mut kick => Err(kicked(at)),
            msg = ws.next() => incoming_control(shared, &mut ka, msg).map(drop),
            _ = &mut ka.deadline, if ka.outstanding => {
                Err(pong_timeout(shared))
            }
            _ = ka.tick.tick() => ping(shared, &mut ws, &mut ka).await,
            item = rx.recv(), if pending.is_empty() => match item {
                Some(item) => {
                    pending.push_back(item);
                    send_frame(shared, &mut ws, &mut pending, &mut rx, &mut kick, &queued).await
                }
                None => Err(End::Gone),
            },
            _ = std::future::ready(()), if !pending.is_empty() => {
                send_frame(shared, &mut ws, &mut pending, &mut rx, &mut kick, &queued).await
            }
        };
        if let Err(end) = step {
            break end;
        }
    };
    release(pending, rx, &queued);
    finish(shared, ws, end).await;
}

/// Takes what was still queued for a connection that ends out of the queue gauges at once,
/// not when the topic next notices the queue is closed. Closed first, so nothing can join it
/// after the drain: a later offer sees it closed and takes its own message back out.
fn release(pending: VecDeque<Item>, mut rx: mpsc::Receiver<Item>, queued: &Arc<QueueShare>) {
    rx.close();
    let bytes = |(_, m): &Item| m.len() as u64;
    let mut gone: Vec<Item> = pending.into();
    while let Ok(item) = rx.try_recv() {
        gone.push(item);
    }
    queued.remove(gone.len() as u64, gone.iter().map(bytes).sum());
}

/// Where a subscription starts: a position handed out by an earlier incarnation of this server
/// means nothing in this log (even when it is in range), so that resume starts at the oldest
/// message held, and the notice's epoch tells the client it was reset.
fn start(shared: &Shared, from: Option<u64>, epoch: Option<u64>) -> Start {
    match (from, epoch) {
        (None, _) => Start::Live,
        (Some(_), Some(theirs)) if theirs != shared.epoch => {
            shared.counters.epoch_resets.inc();
            Start::Oldest
        }
        (Some(from), _) => Start::At(from),
    }
}

fn kicked(at: Result<u64, oneshot::error::RecvError>) -> End {
    match at {
        Ok(at) => End::Close(
            CloseCode::Policy,
            format!("slow consumer: send queue full at position {at}"),
            true,
        ),
        // The topic drops a kick sender only by firing it.
        Err(_) => End::Gone,
    }
}

/// Sends the frames ready in `pending` (and `rx`) with one flush: each message still gets its
/// own WebSocket frame unless `coalesce` is on, but frames already queued share a write, as
/// a corking server does (and as the raw-TCP floor does). A kick or shutdown interrupts a send
/// blocked on a consumer that does not read, so the slow-consumer policy frees memory promptly.
async fn send_frame(
    shared: &Shared,
    ws: &mut Ws,
    pending: &mut VecDeque<Item>,
    rx: &mut mpsc::Receiver<Item>,
    kick: &mut oneshot::Receiver<u64>,
    queued: &QueueShare,
) -> Result<(), End> {
    let batch = async {
        let mut bytes = 0;
        loop {
            let frame = next_frame(shared, pending, rx, queued);
            bytes += frame.len();
            shared.counters.frames.inc();
            ws.feed(Message::Binary(frame)).await?;
            if bytes >= WRITE_BATCH_BYTES {
                break;
            }
            if pending.is_empty() {
                match rx.try_recv() {
                    Ok(item) => pending.push_back(item),
                    Err(_) => break,
                }
            }
        }
        ws.flush().await
    };
    tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => {
            Err(End::Close(CloseCode::Away, "server shutting down".into(), true))
        }
        at = kick => Err(kicked(at)),
        r = tokio::time::timeout(shared.config.dead_after(), batch) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => {
                shared.counters.write_stalls.inc();
                Err(End::Close(CloseCode::Error, "write stalled".into(), false))
            }
        },
    }
}

/// Takes the next frame's messages from `pending` (refilled from `rx` when coalescing).
fn next_frame(
    shared: &Shared,
    pending: &mut VecDeque<Item>,
    rx: &mut mpsc::Receiver<Item>,
    queued: &QueueShare,
) -> Bytes {
    let mut msgs = Vec::new();
    let mut first = 0;
    let mut size = proto::POSITION_LEN;
    loop {
        if pending.is_empty() && !msgs.is_empty() && shared.config.coalesce {
            match rx.try_recv() {
                Ok(item) => pending.push_back(item),
                Err(_) => break,
            }
        }
        let Some((pos, msg)) = pending.front() else {
            break;
        };
        if msgs.is_empty() {
            first = *pos;
        } else {
            let contiguous = *pos == first + msgs.len() as u64;
            let fits = size + proto::LENGTH_LEN + msg.len() <= shared.config.coalesce_max_bytes;
            if !shared.config.coalesce || !contiguous || !fits {
                break;
            }
        }
        size += proto::LENGTH_LEN + msg.len();
        msgs.push(msg.clone());
        pending.pop_front();
    }
    // Out of the queue once framed: from here the bytes are tungstenite's and the kernel's.
    queued.remove(msgs.len() as u64, msgs.iter().map(|m| m.len() as u64).sum());
    proto::encode_frame(first, &msgs)
}
