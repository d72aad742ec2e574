//! `POST /topics/{topic}/messages[?session=S&seq=N]`: decode a batch and store it, minus
//! whatever the named publisher session had already accepted ([`crate::server::session`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::state::{AppState, error, reply, reply_encoding, topic};
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
    let named = match params {
        Ok(Query(PublishParams {
            session: Some(id),
            seq: Some(seq),
        })) => Some((id, seq)),
        Ok(Query(PublishParams {
            session: None,
            seq: None,
        })) => None,
        Ok(_) => {
            return error(
                &state,
                StatusCode::BAD_REQUEST,
                "session and seq go together",
            );
        }
        Err(rej) => return error(&state, StatusCode::BAD_REQUEST, &rej.body_text()),
    };
    let topic = match topic(&state, &name) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let body = match body {
        Ok(b) => b,
        // 413 when the body exceeds `max_body_bytes`, 400 when it could not be read.
        Err(rej) => return error(&state, rej.status(), &rej.body_text()),
    };
    let request_encoding = match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => Encoding::Binary,
        Some(Ok(ct)) if ct.starts_with(BINARY_TYPE) => Encoding::Binary,
        Some(Ok(ct)) if ct.starts_with(JSON_TYPE) => Encoding::Json,
        Some(_) => {
            return error(
                &state,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/octet-stream or application/json",
            );
        }
    };
    let mut msgs = match codec::decode_publish(request_encoding, &body) {
        Ok(m) => m,
        Err(e) => return error(&state, StatusCode::BAD_REQUEST, &e),
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
    let (next, count) = match admitted {
        Ok(a) => a,
        Err(refusal) => {
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
            return error(&state, status, msg);
        }
    };
    let encoding = reply_encoding(&headers);
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
