//! One client connection (hyper), HTTP/1.1 or HTTP/2, that measures the header bytes of each
//! HTTP/1.1 exchange.
//!
//! Every HTTP/1.1 connection is wrapped twice: once in a [`CountingIo`] with the run's wire
//! stats, and once in a private per-connection meter. With one request in flight per connection
//! (HTTP/1.1 without pipelining), the meter's growth over an exchange is exactly that exchange's
//! bytes; minus the bodies, it is the header bytes actually on the wire, not an estimate. An
//! HTTP/2 connection ([`super::h2`]) carries the streams of several clients interleaved, so no
//! one exchange's share of it can be read off the socket: its header bytes are not attributed
//! (`None`), and the run's overhead per message is what shows HPACK's effect.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use transport_core::{ClientContext, CountingIo, HandshakeFlag, TransportError, WireStats};

use super::h2::H2Conn;
use crate::config::{HttpVersion, LongPollConfig};

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
    /// Request line and headers as written (`None` over HTTP/2: not attributable).
    pub request_header_bytes: Option<u64>,
    /// Status line and headers as read (`None` over HTTP/2).
    pub response_header_bytes: Option<u64>,
}

/// A connected client connection.
pub struct Conn {
    link: Link,
}

/// The connection under a [`Conn`].
enum Link {
    /// An HTTP/1.1 connection of this client's own.
    H1 {
        sender: http1::SendRequest<Full<Bytes>>,
        meter: Arc<WireStats>,
        handshake: HandshakeFlag,
        task: JoinHandle<()>,
    },
    /// A stream on an HTTP/2 connection, perhaps shared with other clients.
    H2 {
        conn: Arc<H2Conn>,
        sender: http2::SendRequest<Full<Bytes>>,
    },
}

/// Which HTTP a client speaks, and over HTTP/2 how many clients share a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpChoice {
    /// HTTP/1.1 or HTTP/2.
    pub version: HttpVersion,
    /// Clients per HTTP/2 connection (1: a connection of its own).
    pub streams: u32,
}

impl HttpChoice {
    /// A subscriber's choice under `config` (shares connections over HTTP/2).
    pub fn subscriber(config: &LongPollConfig) -> HttpChoice {
        HttpChoice {
            version: config.http,
            streams: config.streams_per_connection,
        }
    }

    /// A publisher's choice under `config`: a connection of its own, whose per-connection
    /// publisher session ([`crate::server::session`]) is then its alone.
    pub fn publisher(config: &LongPollConfig) -> HttpChoice {
        HttpChoice {
            version: config.http,
            streams: 1,
        }
    }

    /// Opens a connection for `ctx` to `addr`; its bytes count as handshake until
    /// [`Conn::end_handshake`] if `handshake`, else from the end of the TLS handshake on. Over
    /// HTTP/2 it takes a stream on one of the run's shared connections with room, and a new
    /// connection's preface and SETTINGS count with the request it is opened for.
    pub async fn open(
        self,
        ctx: &ClientContext,
        addr: &str,
        handshake: bool,
    ) -> Result<Conn, TransportError> {
        match self.version {
            HttpVersion::Http11 => Conn::open(ctx, addr, handshake).await,
            HttpVersion::Http2 => {
                let conn = H2Conn::shared(ctx, addr, "long-poll", self.streams, handshake).await?;
                Ok(Conn::over_h2(conn))
            }
        }
    }
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
        let (sender, conn) = http1::Builder::new()
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
            link: Link::H1 {
                sender,
                meter,
                handshake: flag,
                task,
            },
        })
    }

    /// A client's handle on HTTP/2 connection `conn`.
    pub fn over_h2(conn: Arc<H2Conn>) -> Conn {
        Conn {
            link: Link::H2 {
                sender: conn.sender(),
                conn,
            },
        }
    }

    /// Counts this connection's bytes as steady state from now on.
    pub fn end_handshake(&self) {
        match &self.link {
            Link::H1 { handshake, .. } => handshake.end(),
            Link::H2 { conn, .. } => conn.end_handshake(),
        }
    }

    /// Whether the connection can carry another request.
    pub fn is_open(&self) -> bool {
        match &self.link {
            Link::H1 { sender, .. } => !sender.is_closed(),
            Link::H2 { conn, .. } => conn.is_open(),
        }
    }

    /// Sends `req` and reads the whole response, refusing bodies over `body_limit` bytes.
    pub async fn exchange(
        &mut self,
        stage: &'static str,
        req: Request<Full<Bytes>>,
        body_limit: usize,
    ) -> Result<Exchange, TransportError> {
        match &mut self.link {
            Link::H1 { sender, meter, .. } => {
                let request_body = req.body().size_hint_exact();
                let before = meter.snapshot();
                sender.ready().await.map_err(|e| hyper_error(stage, &e))?;
                let resp = sender.send_request(req).await;
                let mut ex = read(stage, resp, body_limit).await?;
                let after = meter.snapshot();
                let written = after.written - before.written;
                ex.request_header_bytes = Some(written.saturating_sub(request_body));
                let got = (after.read - before.read).saturating_sub(ex.body.len() as u64);
                ex.response_header_bytes = Some(got);
                Ok(ex)
            }
            Link::H2 { conn, sender } => {
                let mut req = req;
                *req.uri_mut() = conn.uri(req.uri())?;
                sender.ready().await.map_err(|e| hyper_error(stage, &e))?;
                let resp = sender.send_request(req).await;
                let ex = read(stage, resp, body_limit).await?;
                // The first whole reply on the connection is past the HTTP/2 set-up.
                conn.end_handshake();
                Ok(ex)
            }
        }
    }
}

/// Reads a response whole into an [`Exchange`] (header bytes not yet filled in).
async fn read(
    stage: &'static str,
    resp: Result<http::Response<hyper::body::Incoming>, hyper::Error>,
    body_limit: usize,
) -> Result<Exchange, TransportError> {
    let resp = resp.map_err(|e| hyper_error(stage, &e))?;
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
    Ok(Exchange {
        status: parts.status,
        headers: parts.headers,
        body,
        epoch,
        request_header_bytes: None,
        response_header_bytes: None,
    })
}

impl Drop for Conn {
    fn drop(&mut self) {
        // An HTTP/2 connection closes with the last client holding it (`H2Conn`'s drop).
        if let Link::H1 { task, .. } = &self.link {
            task.abort();
        }
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
