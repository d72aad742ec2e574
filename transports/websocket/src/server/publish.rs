//! The publisher connection loop of the server: read each message (tungstenite enforces the
//! size limit), put it into the topic, keep the connection alive with pings.
//!
//! A publisher that names a session (`?session=S`) is told right after the upgrade how many of
//! the session's messages the server has accepted ([`crate::proto::publish_notice`]); the
//! connection then holds the session's count ([`transport_core::session`]) and adds every message it
//! publishes. A newer connection of the same session supersedes it: this loop stops after its
//! current message (close 1008), so the successor reads an exact count and its publisher
//! resends exactly what never arrived.

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use transport_core::HandshakeFlag;
use transport_core::session::{MAX_SESSIONS, SessionCount};

use super::conn::{End, Keepalive, finish, incoming_control, ping, pong_timeout, send};
use super::shared::Shared;
use super::topic::{Retention, Topic};
use crate::proto;
use crate::ws::Ws;

fn away() -> End {
    End::Close(CloseCode::Away, "server shutting down".into(), true)
}

/// Runs a publisher connection, with `session` if the client named one.
pub(crate) async fn run_publisher(
    shared: &Shared,
    mut ws: Ws,
    flag: HandshakeFlag,
    topic: &str,
    session: Option<u64>,
) {
    let Some(t) = shared.topics.get(topic) else {
        let end = End::Close(CloseCode::Again, "too many topics".into(), true);
        return finish(shared, ws, end).await;
    };
    let (held, superseded) = match session {
        // Without a session nothing supersedes the connection.
        None => (None, CancellationToken::new()),
        Some(id) => match open_session(shared, &mut ws, topic, id).await {
            Ok((held, superseded)) => (Some(held), superseded),
            Err(end) => return finish(shared, ws, end).await,
        },
    };
    // The notice, if any, was the last handshake byte.
    flag.end();
    // `relay` consumes the count, so a successor can read it before this close handshake.
    let end = relay(shared, &mut ws, &t, held, &superseded).await;
    finish(shared, ws, end).await;
}

/// Claims session `id`, waits (bounded) for its previous connection to stop, and sends the
/// notice with the session's count.
async fn open_session(
    shared: &Shared,
    ws: &mut Ws,
    topic: &str,
    id: u64,
) -> Result<(SessionCount, CancellationToken), End> {
    let Some(claim) = shared.sessions.claim((topic.to_owned(), id)) else {
        shared.counters.session_refusals.inc();
        let reason = format!("{MAX_SESSIONS} publisher sessions are live or recent");
        return Err(End::Close(CloseCode::Again, reason, true));
    };
    let (superseded, known) = (claim.superseded.clone(), claim.known);
    // A predecessor finishes its current message first; under `slow_consumer = "block"` that
    // may wait for a stalled subscriber, which is closed after `dead_after` at the latest.
    let held = tokio::select! {
        _ = shared.cancel.cancelled() => return Err(away()),
        h = claim.count_within(shared.config.dead_after()) => h,
    };
    let Some(held) = held else {
        shared.counters.session_busy.inc();
        let reason = "the previous connection of this session is still publishing";
        return Err(End::Close(CloseCode::Again, reason.into(), true));
    };
    if known {
        shared.counters.session_resumes.inc();
    }
    let notice = proto::publish_notice(known.then_some(*held), shared.epoch);
    send(shared, ws, Message::Text(notice.into())).await?;
    Ok((held, superseded))
}

/// Data messages the relay puts into the topic together at most: those a read already
/// buffered behind the first, taken without waiting.
const RELAY_BATCH: usize = 256;

/// A data message's bytes; `None` for anything else.
fn data(m: Message) -> Option<Bytes> {
    match m {
        Message::Binary(b) => Some(b),
        Message::Text(t) => Some(Bytes::from(t)),
        _ => None,
    }
}

/// Adds to `batch` the data messages already readable without waiting, up to
/// [`RELAY_BATCH`]. It stops at the first control frame: a ping read now has its pong sent by
/// the next read, and that pong proves every message before it is in the topic, so the batch
/// must be published first. Returns how the stopping frame ended the connection, if it did.
fn gather(
    shared: &Shared,
    ws: &mut Ws,
    ka: &mut Keepalive,
    batch: &mut Vec<Bytes>,
) -> Result<(), End> {
    while batch.len() < RELAY_BATCH {
        let Some(next) = ws.next().now_or_never() else {
            return Ok(());
        };
        match incoming_control(shared, ka, next)?.and_then(data) {
            Some(msg) => batch.push(msg),
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Publishes every data message until the connection ends, counting them in `held`.
async fn relay(
    shared: &Shared,
    ws: &mut Ws,
    t: &Topic,
    mut held: Option<SessionCount>,
    superseded: &CancellationToken,
) -> End {
    let config = &shared.config;
    let keep = Retention {
        messages: config.resume_buffer_messages,
        bytes: config.resume_buffer_bytes,
    };
    let mut ka = Keepalive::new(config.ping_interval, config.pong_timeout);
    let mut batch = Vec::with_capacity(RELAY_BATCH);
    // Registered once for the connection, not once per message.
    let superseded = superseded.cancelled();
    tokio::pin!(superseded);
    loop {
        let step = tokio::select! {
            biased;
            _ = shared.cancel.cancelled() => Err(away()),
            // A successor waits for the count: accept nothing more. The peer is most likely
            // gone, so no drain.
            _ = &mut superseded => {
                shared.counters.superseded.inc();
                let reason = "superseded by a newer connection of this session";
                Err(End::Close(CloseCode::Policy, reason.into(), false))
            }
            msg = ws.next() => match incoming_control(shared, &mut ka, msg) {
                Ok(Some(first)) => {
                    batch.clear();
                    batch.extend(data(first));
                    let after = gather(shared, ws, &mut ka, &mut batch);
                    let publish = t.publish_many(&batch, keep, config.slow_consumer, &shared.fanout);
                    // Under `block` this may wait for slow subscribers; shutdown still wins.
                    tokio::select! {
                        _ = shared.cancel.cancelled() => Err(away()),
                        () = publish => {
                            if let Some(count) = held.as_mut() {
                                **count += batch.len() as u64;
                            }
                            after
                        }
                    }
                }
                other => other.map(drop),
            },
            _ = &mut ka.deadline, if ka.outstanding => {
                Err(pong_timeout(shared))
            }
            _ = ka.tick.tick() => ping(shared, ws, &mut ka).await,
        };
        if let Err(end) = step {
            return end;
        }
    }
}
