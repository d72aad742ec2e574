//! One HTTP/2 client connection (hyper's `http2` conn over our counted [`transport_core::Conn`]),
//! and how the subscribers of a run share it.
//!
//! With TLS the client offers only `h2` by ALPN and refuses a server that does not agree; without
//! TLS it speaks h2c with prior knowledge (the preface first, no upgrade). Either way the bytes
//! are counted at the socket as for HTTP/1.1, ciphertext under TLS and plaintext above it.
//!
//! Handshake bytes, as over HTTP/1.1: a connection opened for a subscription counts as in
//! handshake (TLS handshake, the client's preface and SETTINGS, the server's SETTINGS, their
//! acknowledgements, and the subscribing request) until that request's reply is in; one opened
//! for a publisher or a reconnecting poll counts only its TLS handshake, so its preface and
//! SETTINGS (some 60-90 bytes) are steady-state bytes, and a publisher's first POST (which may
//! carry a whole batch) is never counted as set-up. Requests of later clients on a shared
//! connection are steady-state bytes.

use std::sync::Arc;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::task::JoinHandle;
use transport_core::{ClientContext, HandshakeFlag, TransportError};

/// What a client offers by ALPN for HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// One HTTP/2 connection; shared by the clients that hold it, closed with the last one.
pub struct H2Conn {
    sender: SendRequest<Full<Bytes>>,
    handshake: HandshakeFlag,
    scheme: &'static str,
    authority: String,
    task: JoinHandle<()>,
}

impl Drop for H2Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl H2Conn {
    /// Opens a connection to `addr` for `ctx` (TLS offering only `h2`, or h2c); past the TLS
    /// handshake its bytes count as handshake only if `handshake` (see the module docs).
    pub async fn open(
        ctx: &ClientContext,
        addr: &str,
        handshake: bool,
    ) -> Result<H2Conn, TransportError> {
        let ctx = ClientContext {
            tls: ctx.tls.as_ref().map(|t| t.with_alpn(&[ALPN_H2])),
            ..ctx.clone()
        };
        let counted = ctx.open(addr).await?;
        if let Some(n) = counted.negotiated()
            && n.alpn.as_deref() != Some("h2")
        {
            return Err(TransportError::Refused {
                stage: "http/2 by ALPN",
                detail: format!("the server did not agree to h2 (it chose {:?})", n.alpn),
            });
        }
        let scheme = if counted.is_tls() { "https" } else { "http" };
        if !handshake {
            counted.end_handshake();
        }
        let handshake = counted.handshake_flag();
        let (sender, conn) = Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(counted))
            .await
            .map_err(|e| TransportError::protocol("http/2 handshake", e.to_string()))?;
        // The connection future drives every stream's reads and writes; it ends when either
        // side closes (or the last holder drops this connection).
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H2Conn {
            sender,
            handshake,
            scheme,
            authority: addr.to_owned(),
            task,
        })
    }

    /// A connection to `addr` for `ctx`: one of the run's shared connections with room for
    /// another of `streams` clients, or a new one. A client whose socket reads are gated
    /// (a lagging consumer class, churn) gets its own, as a gate acts on one socket.
    pub async fn shared(
        ctx: &ClientContext,
        addr: &str,
        kind: &str,
        streams: u32,
        handshake: bool,
    ) -> Result<Arc<H2Conn>, TransportError> {
        if streams <= 1 || ctx.gate.is_some() {
            return H2Conn::open(ctx, addr, handshake).await.map(Arc::new);
        }
        let key = format!("{kind} h2 {addr} from {:?}", ctx.source);
        // The table's reference is weak and the lookup holds one: the holders are count - 1.
        let room = |c: &Arc<H2Conn>| c.is_open() && Arc::strong_count(c) <= streams as usize;
        let open = || async { H2Conn::open(ctx, addr, handshake).await.map(Arc::new) };
        ctx.shared.get_or_open(&key, room, open).await
    }

    /// Whether the connection can carry another stream.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// A handle for sending requests on this connection.
    pub fn sender(&self) -> SendRequest<Full<Bytes>> {
        self.sender.clone()
    }

    /// Ends the connection's handshake count (idempotent): called once a reply is in.
    pub fn end_handshake(&self) {
        self.handshake.end();
    }

    /// `path` (origin-form, as HTTP/1.1 sends it) as the absolute URI HTTP/2 needs for its
    /// `:scheme` and `:authority`.
    pub fn uri(&self, path: &Uri) -> Result<Uri, TransportError> {
        let pq = path.path_and_query().map_or("/", |p| p.as_str());
        format!("{}://{}{pq}", self.scheme, self.authority)
            .parse()
            .map_err(|e| TransportError::Config(format!("bad request URI: {e}")))
    }
}

/// Takes the headers HTTP/2 carries otherwise (`Host` is `:authority`) or forbids
/// (`Connection`) out of a header set built for HTTP/1.1.
pub fn strip_h1_headers(headers: &mut http::HeaderMap) {
    headers.remove(http::header::HOST);
    headers.remove(http::header::CONNECTION);
}
