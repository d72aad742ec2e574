//! The HTTP API: routes, request validation, and the mapping from poll outcomes to statuses.
//!
//! - `POST /topics/{topic}/messages?session=S&seq=N`: a batch of one or more messages → 200 with
//!   the next cursor. The query is optional: it names a publisher session so a retried batch is
//!   stored once ([`super::session`]).
//! - `GET /topics/{topic}/poll?cursor=N&max=K&timeout_ms=T&epoch=E`: held until messages after
//!   `N` exist (200) or `T` passes (empty, 204 by default); 410 if `N` is older than retention,
//!   or at once if `E` (optional) is not this server's epoch ([`crate::epoch`]).
//! - `GET /topics/{topic}/head`: the topic's next cursor, at once (what a subscriber starts from),
//!   with the server's epoch in the `server-epoch` header.
//!
//! Request bodies are JSON when `Content-Type: application/json`, otherwise binary; replies are
//! JSON when `Accept` mentions `application/json`, otherwise binary (formats: [`crate::codec`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use transport_core::Counters;

use crate::codec::{self, JSON_TYPE};
use crate::config::{LongPollConfig, MAX_HOLD};
use crate::epoch;
use crate::store::{PollOutcome, ReadLimits, Store};

use super::session::SessionTable;

mod publish;
mod state;
use publish::publish;
pub use state::valid_topic;
use state::{AppState, ServerCounters, error, json_error, reply, reply_encoding, topic};

/// Builds the router for one server, with a fresh store and epoch.
#[cfg(test)]
pub(crate) fn router(
    config: &LongPollConfig,
    counters: &Counters,
    shutdown: CancellationToken,
) -> Router {
    let store = Arc::new(Store::new(config.retention_messages as usize));
    router_with(config, counters, shutdown, store, epoch::generate())
}

/// Builds the router for one server over `store`, as the server of `epoch`.
pub(crate) fn router_with(
    config: &LongPollConfig,
    counters: &Counters,
    shutdown: CancellationToken,
    store: Arc<Store>,
    epoch: u64,
) -> Router {
    let state = Arc::new(AppState {
        store,
        epoch,
        epoch_header: HeaderValue::from(epoch),
        config: config.clone(),
        shutdown,
        counters: ServerCounters {
            polls: counters.counter("server_polls"),
            empty_polls: counters.counter("server_empty_polls"),
            gone: counters.counter("server_gone_replies"),
            epoch_resets: counters.counter("server_epoch_resets"),
            publishes: counters.counter("server_publish_requests"),
            published_messages: counters.counter("server_published_messages"),
            session_duplicates: counters.counter("server_session_duplicates"),
            session_refusals: counters.counter("server_session_refusals"),
            rejected: counters.counter("server_rejected_requests"),
        },
        sessions: SessionTable::default(),
    });
    Router::new()
        .route("/topics/{topic}/messages", post(publish))
        .route("/topics/{topic}/poll", get(poll))
        .route("/topics/{topic}/head", get(head))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes as usize))
        .with_state(state)
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such route; use POST /topics/{topic}/messages, GET /topics/{topic}/poll or GET /topics/{topic}/head",
        None,
    )
}

/// Query of a poll. Unknown parameters are ignored: browsers add cache busters.
#[derive(Debug, Deserialize)]
struct PollParams {
    cursor: u64,
    max: Option<u32>,
    timeout_ms: Option<u64>,
    /// The server epoch the cursor came from, if the client sends it.
    epoch: Option<u64>,
}

async fn poll(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    params: Result<Query<PollParams>, QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(rej) => return error(&state, StatusCode::BAD_REQUEST, &rej.body_text()),
    };
    let hold = match params.timeout_ms {
        None => state.config.hold_timeout,
        Some(ms) if Duration::from_millis(ms) <= MAX_HOLD => Duration::from_millis(ms),
        Some(_) => {
            return error(
                &state,
                StatusCode::BAD_REQUEST,
                "timeout_ms must be at most 3600000",
            );
        }
    };
    let max_messages = match params.max {
        None => state.config.max_messages,
        Some(0) => return error(&state, StatusCode::BAD_REQUEST, "max must be at least 1"),
        Some(k) => k.min(state.config.max_messages),
    };
    // Parameters are checked before the topic is looked up, so bad requests create no topics.
    let topic = match topic(&state, &name) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let encoding = reply_encoding(&headers);
    let limits = ReadLimits {
        max_messages: max_messages as usize,
        max_bytes: state.config.max_body_bytes as usize,
        encoding,
    };
    state.counters.polls.inc();
    if let Some(theirs) = params.epoch
        && theirs != state.epoch
    {
        // The cursor was handed out by an earlier incarnation of this server: it means nothing
        // in this log, even if it is in range. The client resumes from what this server holds.
        state.counters.epoch_resets.inc();
        let msg = format!(
            "cursor {} is from server epoch {theirs}, not this one; resume from earliest_cursor with the epoch in the server-epoch header",
            params.cursor
        );
        let mut resp = json_error(StatusCode::GONE, &msg, Some(topic.earliest()));
        resp.headers_mut()
            .insert(epoch::HEADER, state.epoch_header.clone());
        return resp;
    }
    match topic
        .poll(params.cursor, limits, hold, &state.shutdown)
        .await
    {
        PollOutcome::Messages { msgs, next } => {
            state.store.drain.delivered();
            reply(
                StatusCode::OK,
                encoding,
                codec::encode_batch(encoding, next, &msgs),
            )
        }
        PollOutcome::Empty { next } => {
            state.counters.empty_polls.inc();
            if state.config.empty_status == 200 {
                reply(
                    StatusCode::OK,
                    encoding,
                    codec::encode_batch(encoding, next, &[]),
                )
            } else {
                (
                    StatusCode::NO_CONTENT,
                    [(header::CACHE_CONTROL, "no-store")],
                )
                    .into_response()
            }
        }
        PollOutcome::Gone { earliest } => {
            state.counters.gone.inc();
            let msg = format!(
                "cursor {} is older than retention; the earliest retained cursor is {earliest}",
                params.cursor
            );
            json_error(StatusCode::GONE, &msg, Some(earliest))
        }
        PollOutcome::Ahead { head, earliest } => {
            // Still a client error, but with the cursors a client needs to tell a restarted
            // server (its log began again) from a bug of its own.
            state.counters.rejected.inc();
            let msg = format!("cursor {} is beyond the head {head}", params.cursor);
            (
                StatusCode::BAD_REQUEST,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE)),
                    // A client that resets here needs the epoch for its next connections.
                    (
                        HeaderName::from_static(epoch::HEADER),
                        state.epoch_header.clone(),
                    ),
                ],
                codec::encode_ahead(&msg, head, earliest),
            )
                .into_response()
        }
        PollOutcome::ShuttingDown => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server shutting down",
            None,
        ),
    }
}

async fn head(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let topic = match topic(&state, &name) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let encoding = reply_encoding(&headers);
    let mut resp = reply(
        StatusCode::OK,
        encoding,
        codec::encode_batch(encoding, topic.head(), &[]),
    );
    // Where a subscriber learns the epoch it sends back when it resumes.
    resp.headers_mut()
        .insert(epoch::HEADER, state.epoch_header.clone());
    resp
}
