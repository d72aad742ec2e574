//! Opening one event stream as a client: a counted connection (through the client's read
//! gate), an HTTP/1.1 `GET` with `Accept: text/event-stream` and, when resuming,
//! `Last-Event-ID`, and the response body to read as it streams. Bytes up to the response head
//! count as handshake. Shared by our SSE subscriber and Nchan's EventSource subscriber, which
//! differ only in the path and the id they resume from.

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use transport_core::{ClientContext, TransportError};

use crate::server::EVENT_STREAM;

/// One open stream: its body, and the task driving its connection (stopped on drop).
pub struct EventStream {
    /// The response body, read frame by frame.
    pub body: Incoming,
    /// The server's epoch, when it sends one ([`transport_long_poll::epoch::HEADER`]).
    pub epoch: Option<u64>,
    task: JoinHandle<()>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
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
            task,
        })
    }
}
