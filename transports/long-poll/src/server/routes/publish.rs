//! `POST /topics/{topic}/messages[?session=S&seq=N]`: decode a batch and store it, minus
//! whatever the named publisher session had already accepted ([`crate::server::session`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::state::{AppState, error, json_error, reply, reply_encoding, topic};
use crate::codec::{self, BINARY_TYPE, JSON_TYPE};
use crate::config::Encoding;
use crate::server::session::{ACCEPTED_HEADER, ConnSession, Refusal};

/// Query of a publish: both or neither. Unknown parameters are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct PublishParams {
    /// The publisher's session id.
    session: Option<u64>,
    /// The session position of the batch's first message.
    seq: Option<u64>,
}

pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    conn: Option<Extension<Arc<ConnSession>>>,
    headers: HeaderMap,
    params: Result<Query<PublishParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if state.store.drain.draining() {
        // Stopping gracefully: the publisher retries a 5xx, on the next server.
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server draining before it stops; retry",
            None,
        );
    }
    // The order of the checks decides which error a bad request gets, and the topic lookup
    // creates the topic, so it stays: query, topic, body, then the batch itself.
    let named = match session_of(&state, params) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let topic = match topic(&state, &name) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut msgs = match decode_batch(&state, &headers, body) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    // Outside a served connection (router tests) every request is a connection of its own.
    let conn = conn.map_or_else(Arc::default, |Extension(c)| c);
    let n = msgs.len();
    let admitted = conn
        .admit(&state.sessions, &name, named, n, |skip| {
            state.counters.publishes.inc();
            state.counters.session_duplicates.add(skip as u64);
            state.counters.published_messages.add((n - skip) as u64);
            if skip == n {
                topic.head()
            } else {
                msgs.drain(..skip);
                topic.publish(msgs)
            }
        })
        .await;
    match admitted {
        Ok((next, count)) => stored(&headers, next, count),
        Err(refusal) => refused(&state, refusal),
    }
}

/// The `(session, seq)` a publish names, if any; the error reply if it names only one.
fn session_of(
    state: &AppState,
    params: Result<Query<PublishParams>, QueryRejection>,
) -> Result<Option<(u64, u64)>, Box<Response>> {
    match params {
        Ok(Query(PublishParams {
            session: Some(id),
            seq: Some(seq),
        })) => Ok(Some((id, seq))),
        Ok(Query(PublishParams {
            session: None,
            seq: None,
        })) => Ok(None),
        Ok(_) => Err(Box::new(error(
            state,
            StatusCode::BAD_REQUEST,
            "session and seq go together",
        ))),
        Err(rej) => Err(Box::new(error(
            state,
            StatusCode::BAD_REQUEST,
            &rej.body_text(),
        ))),
    }
}

/// The batch's messages, decoded as its `Content-Type` says; the error reply otherwise.
fn decode_batch(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Bytes>, Box<Response>> {
    // 413 when the body exceeds `max_body_bytes`, 400 when it could not be read.
    let body = body.map_err(|rej| Box::new(error(state, rej.status(), &rej.body_text())))?;
    let encoding = match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => Encoding::Binary,
        Some(Ok(ct)) if ct.starts_with(BINARY_TYPE) => Encoding::Binary,
        Some(Ok(ct)) if ct.starts_with(JSON_TYPE) => Encoding::Json,
        Some(_) => {
            return Err(Box::new(error(
                state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/octet-stream or application/json",
            )));
        }
    };
    codec::decode_publish(encoding, &body)
        .map_err(|e| Box::new(error(state, StatusCode::BAD_REQUEST, &e)))
}

/// 200 with the topic's next cursor and, for a named batch, the session's accepted count.
fn stored(headers: &HeaderMap, next: u64, count: Option<u64>) -> Response {
    let encoding = reply_encoding(headers);
    let mut resp = reply(
        StatusCode::OK,
        encoding,
        codec::encode_cursor(encoding, next),
    );
    if let Some(count) = count {
        resp.headers_mut().insert(
            HeaderName::from_static(ACCEPTED_HEADER),
            HeaderValue::from(count),
        );
    }
    resp
}

/// The error reply for a batch the session table would not admit.
fn refused(state: &AppState, refusal: Refusal) -> Response {
    state.counters.session_refusals.inc();
    let (status, msg) = match refusal {
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many publisher sessions on this server",
        ),
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the previous connection of this session is still publishing",
        ),
        Refusal::Superseded => (
            StatusCode::CONFLICT,
            "a newer connection took over this session; reconnect with session and seq",
        ),
    };
    error(state, status, msg)
}
