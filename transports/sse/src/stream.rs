//! Opening one event stream as a client: a counted connection (through the client's read
//! gate), an HTTP/1.1 `GET` with `Accept: text/event-stream` and, when resuming,
//! `Last-Event-ID`, and the response body to read as it streams. Bytes up to the response head
//! count as handshake. Shared by our SSE subscriber and Nchan's EventSource subscriber, which
//! differ only in the path and the id they resume from.
//!
//! Over HTTP/2 the stream is one of many on a connection the run's subscribers share
//! ([`transport_long_poll::client::h2`]); the connection's bytes count as handshake until the
//! first stream's response head arrives, and a later stream's request is steady state.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use transport_core::{ClientContext, TransportError};
use transport_long_poll::client::h2::H2Conn;

use crate::server::EVENT_STREAM;

/// One open stream: its body, and the task driving its connection (stopped on drop).
pub struct EventStream {
    /// The response body, read frame by frame.
    pub body: Incoming,
    /// The server's epoch, when it sends one ([`transport_long_poll::epoch::HEADER`]).
    pub epoch: Option<u64>,
    /// What keeps the connection going: an HTTP/1.1 connection's task of its own, or a hold
    /// on a shared HTTP/2 connection (closed by the last stream that drops it).
    link: Link,
}

/// See [`EventStream::link`].
enum Link {
    H1(JoinHandle<()>),
    H2(#[allow(dead_code)] Arc<H2Conn>),
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Link::H1(task) = &self.link {
            task.abort();
        }
    }
}

impl EventStream {
    /// Opens `path` on `addr` for `ctx`, sending `last_event_id` when given; `stage` names the
    /// step in errors. Anything but `200 OK` is refused.
    pub async fn open(
        ctx: &ClientContext,
        addr: &str,
        path: &str,
        last_event_id: Option<&str>,
        stage: &'static str,
    ) -> Result<EventStream, TransportError> {
        // `ctx.connect`, not `ctx.socket.connect`: it dials from the source the runner gave this
        // client, which is how one host exceeds one source address's ~28K ephemeral ports.
        let io = ctx.open(addr).await?;
        let flag = io.handshake_flag();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| TransportError::protocol(stage, e.to_string()))?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::get(path)
            .header(header::HOST, addr)
            .header(header::ACCEPT, EVENT_STREAM);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| TransportError::protocol(stage, e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| TransportError::protocol(stage, e.to_string()))?;
        flag.end();
        EventStream::from_response(resp, Link::H1(task), stage)
    }

    /// Opens `path` as a stream on HTTP/2 connection `conn` (see [`EventStream::open`]).
    pub async fn open_h2(
        conn: Arc<H2Conn>,
        path: &str,
        last_event_id: Option<&str>,
        stage: &'static str,
    ) -> Result<EventStream, TransportError> {
        let bad = |e: http::Error| TransportError::protocol(stage, e.to_string());
        let uri = conn.uri(&path.parse().map_err(|e: http::uri::InvalidUri| {
            TransportError::protocol(stage, e.to_string())
        })?)?;
        let mut req = Request::get(uri).header(header::ACCEPT, EVENT_STREAM);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let req = req.body(Full::new(Bytes::new())).map_err(bad)?;
        let mut sender = conn.sender();
        sender
            .ready()
            .await
            .map_err(|e| TransportError::protocol(stage, e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| TransportError::protocol(stage, e.to_string()))?;
        conn.end_handshake();
        EventStream::from_response(resp, Link::H2(conn), stage)
    }

    fn from_response(
        resp: Response<Incoming>,
        link: Link,
        stage: &'static str,
    ) -> Result<EventStream, TransportError> {
        if resp.status() != StatusCode::OK {
            return Err(TransportError::Refused {
                stage,
                detail: format!("HTTP {}", resp.status()),
            });
        }
        let epoch = resp
            .headers()
            .get(transport_long_poll::epoch::HEADER)
            .and_then(|v| transport_long_poll::epoch::parse(v.as_bytes()));
        Ok(EventStream {
            body: resp.into_body(),
            epoch,
            link,
        })
    }
}
