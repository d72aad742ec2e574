//! What every route handler shares: the server's state and counters, JSON error replies, the
//! reply encoding and topic lookup. The router (`routes`) and the publish route both build on
//! it, so it sits beside them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;
use transport_core::Counter;

use crate::codec::{self, BINARY_TYPE, JSON_TYPE};
use crate::config::{Encoding, LongPollConfig};
use crate::server::session::SessionTable;
use crate::store::{Store, Topic};

/// Longest topic name accepted.
const MAX_TOPIC_LEN: usize = 200;

/// Server-side counters, registered once.
pub(super) struct ServerCounters {
    pub(super) polls: Counter,
    pub(super) empty_polls: Counter,
    pub(super) gone: Counter,
    pub(super) epoch_resets: Counter,
    pub(super) publishes: Counter,
    pub(super) published_messages: Counter,
    /// Messages of named batches not stored again because the session had accepted them.
    pub(super) session_duplicates: Counter,
    pub(super) session_refusals: Counter,
    pub(super) rejected: Counter,
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(super) store: Arc<Store>,
    /// This server's epoch, and the same as a header value (built once, sent per head reply).
    pub(super) epoch: u64,
    pub(super) epoch_header: HeaderValue,
    pub(super) config: LongPollConfig,
    pub(super) shutdown: CancellationToken,
    pub(super) counters: ServerCounters,
    pub(super) sessions: SessionTable,
}

/// A JSON error reply.
pub(super) fn error(state: &AppState, status: StatusCode, message: &str) -> Response {
    state.counters.rejected.inc();
    json_error(status, message, None)
}

pub(super) fn json_error(status: StatusCode, message: &str, earliest: Option<u64>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, JSON_TYPE)],
        codec::encode_error(message, earliest),
    )
        .into_response()
}

/// The reply encoding the client asked for.
pub(super) fn reply_encoding(headers: &HeaderMap) -> Encoding {
    let wants_json = headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains(JSON_TYPE)));
    if wants_json {
        Encoding::Json
    } else {
        Encoding::Binary
    }
}

pub(super) fn reply(status: StatusCode, encoding: Encoding, body: Bytes) -> Response {
    let content_type = match encoding {
        Encoding::Binary => BINARY_TYPE,
        Encoding::Json => JSON_TYPE,
    };
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            // Real long-poll endpoints forbid caching, and the header's bytes are part of the cost.
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Whether `name` is a valid topic name: 1 to 200 characters of A-Z, a-z, 0-9, '-', '_', '.'.
pub fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Validates the topic name and finds (or creates) the topic; the error reply otherwise.
pub(super) fn topic(state: &AppState, name: &str) -> Result<Arc<Topic>, Box<Response>> {
    if !valid_topic(name) {
        return Err(Box::new(error(
            state,
            StatusCode::BAD_REQUEST,
            "topic names are 1 to 200 characters of A-Z, a-z, 0-9, '-', '_' or '.'",
        )));
    }
    state.store.topic(name).ok_or_else(|| {
        Box::new(error(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "too many topics on this server",
        ))
    })
}
