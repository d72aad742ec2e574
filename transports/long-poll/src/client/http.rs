//! One HTTP/1.1 client connection (hyper) that measures the header bytes of each exchange.
//!
//! Every connection is wrapped twice: once in a [`CountingIo`] with the run's wire stats, and
//! once in a private per-connection meter. With one request in flight per connection (HTTP/1.1
//! without pipelining), the meter's growth over an exchange is exactly that exchange's bytes;
//! minus the bodies, it is the header bytes actually on the wire, not an estimate.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use transport_core::{ClientContext, CountingIo, HandshakeFlag, TransportError, WireStats};

/// The result of one request/response exchange.
#[derive(Debug)]
pub struct Exchange {
    /// Response status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// Response body.
    pub body: Bytes,
    /// The server's epoch, if the response carried one ([`crate::epoch::HEADER`]).
    pub epoch: Option<u64>,
    /// Request line and headers as written.
    pub request_header_bytes: u64,
    /// Status line and headers as read.
    pub response_header_bytes: u64,
}

/// A connected HTTP/1.1 client connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    meter: Arc<WireStats>,
    handshake: HandshakeFlag,
    task: JoinHandle<()>,
}

impl Conn {
    /// Connects to `addr`; bytes count as handshake until [`Conn::end_handshake`] if
    /// `handshake`.
    pub async fn open(
        ctx: &ClientContext,
        addr: &str,
        handshake: bool,
    ) -> Result<Conn, TransportError> {
        let counted = ctx.open(addr).await?;
        if !handshake {
            counted.end_handshake();
        }
        let flag = counted.handshake_flag();
        let meter = WireStats::new();
        let io = TokioIo::new(CountingIo::new(counted, meter.clone()));
        let (sender, conn) = Builder::new()
            // Browsers write `Host:`, `User-Agent:`; same bytes either way, but realistic.
            .title_case_headers(true)
            .handshake(io)
            .await
            .map_err(|e| TransportError::protocol("http handshake", e.to_string()))?;
        // The connection future drives reads and writes; it ends when either side closes.
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            meter,
            handshake: flag,
            task,
        })
    }

    /// Counts this connection's bytes as steady state from now on.
    pub fn end_handshake(&self) {
        self.handshake.end();
    }

    /// Whether the connection can carry another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Sends `req` and reads the whole response, refusing bodies over `body_limit` bytes.
    pub async fn exchange(
        &mut self,
        stage: &'static str,
        req: Request<Full<Bytes>>,
        body_limit: usize,
    ) -> Result<Exchange, TransportError> {
        let request_body = req.body().size_hint_exact();
        let before = self.meter.snapshot();
        self.sender
            .ready()
            .await
            .map_err(|e| hyper_error(stage, &e))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| hyper_error(stage, &e))?;
        // Taken apart, not cloned: the headers move into the exchange for free.
        let (parts, body) = resp.into_parts();
        let epoch = parts
            .headers
            .get(crate::epoch::HEADER)
            .and_then(|v| crate::epoch::parse(v.as_bytes()));
        let body = Limited::new(body, body_limit)
            .collect()
            .await
            .map_err(|e| TransportError::protocol(stage, format!("response body: {e}")))?
            .to_bytes();
        let after = self.meter.snapshot();
        Ok(Exchange {
            status: parts.status,
            headers: parts.headers,
            request_header_bytes: (after.written - before.written).saturating_sub(request_body),
            response_header_bytes: (after.read - before.read).saturating_sub(body.len() as u64),
            body,
            epoch,
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Exact body length of a request body (ours are always `Full`).
trait SizeHintExact {
    fn size_hint_exact(&self) -> u64;
}

impl SizeHintExact for Full<Bytes> {
    fn size_hint_exact(&self) -> u64 {
        hyper::body::Body::size_hint(self).exact().unwrap_or(0)
    }
}

/// A hyper error at `stage`: a closed connection is `Closed`, the rest are IO-level failures.
fn hyper_error(stage: &'static str, e: &hyper::Error) -> TransportError {
    if e.is_closed() || e.is_canceled() || e.is_incomplete_message() {
        TransportError::Closed { stage }
    } else {
        TransportError::protocol(stage, e.to_string())
    }
}
