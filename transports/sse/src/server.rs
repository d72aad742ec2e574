//! The SSE server: the long-poll server (its publish route, sessions, topics, retention,
//! connections and shutdown, through [`transport_long_poll::server::start_extended`]) plus one
//! route, `GET /topics/{topic}/events`, that streams a topic as `text/event-stream`.
//!
//! The stream opens with a block carrying `retry:` and, when the stream does not start at
//! cursor 0, `id: START-1`, so a client that reconnects before any event still resumes at the
//! right place. Then one event per message, `id:` its cursor, `data:` the payload (base64 or
//! text); a `:` comment after `keepalive_interval` of silence. A resume point older than
//! retention gets `event: gone` with `data:` the earliest retained cursor (the stream goes on
//! from there, and the client counts the gap as lost); one beyond the head (a restarted server)
//! gets `event: reset` likewise.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tokio::net::TcpListener;
use transport_core::{Counter, Counters, ServerContext, TransportError};
use transport_long_poll::Encoding;
use transport_long_poll::epoch;
use transport_long_poll::server::{Extension, start_extended, valid_topic};
use transport_long_poll::store::{PollOutcome, ReadLimits, Topic};
use transport_long_poll::{LongPollServer, config::MAX_HOLD};

use crate::config::{DataEncoding, SseConfig};

/// The content type of an event stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// What every stream shares.
struct State_ {
    ext: Extension,
    config: SseConfig,
    streams: Counter,
    events: Counter,
    keepalives: Counter,
    gone: Counter,
    rejected: Counter,
}

/// Starts the server on `listener`.
pub fn start(
    config: &SseConfig,
    listener: TcpListener,
    ctx: ServerContext,
) -> Result<LongPollServer, TransportError> {
    let routes = routes(config, &ctx.counters);
    start_extended(&config.long_poll(), listener, ctx, routes)
}

/// What SSE adds to the long-poll server: the events route, over the server's `Extension`.
pub(crate) fn routes(
    config: &SseConfig,
    counters: &Arc<Counters>,
) -> impl FnOnce(Extension) -> Router + use<> {
    let counters = counters.clone();
    let sse = config.clone();
    move |ext| {
        let state = Arc::new(State_ {
            ext,
            config: sse,
            streams: counters.counter("server_streams"),
            events: counters.counter("server_events"),
            keepalives: counters.counter("server_keepalives"),
            gone: counters.counter("server_gone_events"),
            rejected: counters.counter("server_rejected_streams"),
        });
        Router::new()
            .route("/topics/{topic}/events", get(events))
            .with_state(state)
    }
}

/// `?last_event_id=N`, for a first connect that resumes (a reconnect sends the header).
#[derive(Debug, Deserialize)]
struct Params {
    last_event_id: Option<String>,
    /// Start at this cursor: a client resuming a stream that opened at 0, before any id.
    from: Option<u64>,
    /// The epoch of the server the resume point came from ([`transport_long_poll::epoch`]):
    /// when it is not this server's, the point means nothing here and the stream starts at
    /// the earliest retained message with `event: reset`.
    epoch: Option<u64>,
}

fn refuse(state: &State_, status: StatusCode, message: String) -> Response {
    state.rejected.inc();
    (status, message + "\n").into_response()
}

async fn events(
    State(state): State<Arc<State_>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(rej) => return refuse(&state, StatusCode::BAD_REQUEST, rej.body_text()),
    };
    let header_id = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let last = match header_id.or(params.last_event_id).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let msg = format!("Last-Event-ID must be a cursor (an integer), got {s:?}");
                return refuse(&state, StatusCode::BAD_REQUEST, msg);
            }
        },
    };
    if !valid_topic(&name) {
        let msg = "topic names are 1 to 200 characters of A-Z, a-z, 0-9, '-', '_' or '.'";
        return refuse(&state, StatusCode::BAD_REQUEST, msg.into());
    }
    let Some(topic) = state.ext.store.topic(&name) else {
        let msg = "too many topics on this server".into();
        return refuse(&state, StatusCode::SERVICE_UNAVAILABLE, msg);
    };
    // The start is fixed before the reply: once the client has the headers, every message
    // published later reaches it.
    let other_epoch = params.epoch.is_some_and(|e| e != state.ext.epoch);
    let start = match (last, params.from) {
        _ if other_epoch => topic.earliest(),
        (Some(n), _) => n.saturating_add(1),
        (None, Some(from)) => from,
        (None, None) => topic.head(),
    };
    state.streams.inc();
    let epoch_header = [(epoch::HEADER, state.ext.epoch.to_string())];
    let mut opening = opening_block(&state.config, start);
    if other_epoch {
        // A restarted server: say where the stream restarts, as for a point it has outgrown.
        state.gone.inc();
        opening = Bytes::from(
            [
                &opening[..],
                format!("event: reset\ndata: {start}\n\n").as_bytes(),
            ]
            .concat(),
        );
    }
    let body = Body::from_stream(futures_util::stream::unfold(
        Stream {
            state,
            topic,
            cursor: start,
            opening: Some(opening),
        },
        next_chunk,
    ));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, EVENT_STREAM),
            (header::CACHE_CONTROL, "no-store"),
        ],
        epoch_header,
        body,
    )
        .into_response()
}

fn opening_block(config: &SseConfig, start: u64) -> Bytes {
    let mut s = format!("retry: {}\n", config.retry.as_millis());
    if start > 0 {
        s += &format!("id: {}\n", start - 1);
    }
    s.push('\n');
    Bytes::from(s)
}

/// One stream's position.
struct Stream {
    state: Arc<State_>,
    topic: Arc<Topic>,
    cursor: u64,
    opening: Option<Bytes>,
}

type Chunk = Result<Bytes, std::convert::Infallible>;

/// The next piece of the body: events, a keep-alive, or the end at shutdown.
async fn next_chunk(mut s: Stream) -> Option<(Chunk, Stream)> {
    if let Some(opening) = s.opening.take() {
        return Some((Ok(opening), s));
    }
    let state = s.state.clone();
    let limits = ReadLimits {
        max_messages: state.config.max_events_per_write as usize,
        max_bytes: state.config.max_body_bytes as usize,
        encoding: Encoding::Binary,
    };
    let hold = state.config.keepalive_interval.min(MAX_HOLD);
    let chunk = match s
        .topic
        .poll(s.cursor, limits, hold, &state.ext.shutdown)
        .await
    {
        PollOutcome::Messages { msgs, next } => {
            let first = s.cursor;
            s.cursor = next;
            state.events.add(msgs.len() as u64);
            state.ext.store.drain.delivered();
            encode_events(state.config.data_encoding, first, &msgs)
        }
        PollOutcome::Empty { .. } => {
            state.keepalives.inc();
            Bytes::from_static(b":\n")
        }
        PollOutcome::Gone { earliest } => {
            state.gone.inc();
            s.cursor = earliest;
            Bytes::from(format!("event: gone\ndata: {earliest}\n\n"))
        }
        PollOutcome::Ahead { earliest, .. } => {
            state.gone.inc();
            s.cursor = earliest;
            Bytes::from(format!("event: reset\ndata: {earliest}\n\n"))
        }
        PollOutcome::ShuttingDown => return None,
    };
    Some((Ok(chunk), s))
}

/// Encodes messages at cursors `first..` as one event each.
pub fn encode_events(encoding: DataEncoding, first: u64, msgs: &[Bytes]) -> Bytes {
    let mut out = String::with_capacity(msgs.iter().map(|m| m.len() * 4 / 3 + 32).sum());
    for (i, m) in msgs.iter().enumerate() {
        let id = first + i as u64;
        match (encoding, std::str::from_utf8(m)) {
            (DataEncoding::Base64, _) => {
                out += &format!("id: {id}\ndata: ");
                STANDARD.encode_string(m, &mut out);
                out += "\n\n";
            }
            (DataEncoding::Text, Ok(text)) if !text.contains(['\r', '\n']) => {
                out += &format!("id: {id}\ndata: {text}\n\n");
            }
            // Not representable as one data line: say so, so the client counts it lost.
            (DataEncoding::Text, _) => {
                out += &format!("id: {id}\nevent: bad-payload\ndata: {id}\n\n")
            }
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_cursor_and_the_payload() {
        let msgs = [Bytes::from_static(b"hi"), Bytes::from_static(b"\xff\n")];
        let b64 = encode_events(DataEncoding::Base64, 7, &msgs);
        assert_eq!(&b64[..], b"id: 7\ndata: aGk=\n\nid: 8\ndata: /wo=\n\n");
        // Text cannot carry invalid UTF-8 or a line break: a bad-payload event says so.
        let text = encode_events(DataEncoding::Text, 7, &msgs);
        assert_eq!(
            &text[..],
            b"id: 7\ndata: hi\n\nid: 8\nevent: bad-payload\ndata: 8\n\n"
        );
    }

    #[test]
    fn the_opening_block_names_the_cursor_before_the_start() {
        let c = SseConfig::default();
        assert_eq!(&opening_block(&c, 0)[..], b"retry: 100\n\n");
        assert_eq!(&opening_block(&c, 42)[..], b"retry: 100\nid: 41\n\n");
    }
}
