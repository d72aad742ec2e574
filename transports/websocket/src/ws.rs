//! WebSocket plumbing both halves share: the client upgrade over a counting socket, the close
//! handshake, control-frame sizes, and mapping tungstenite errors to `TransportError`.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig as WsConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use transport_core::{ClientContext, Conn, HandshakeFlag, TransportError};

/// A WebSocket over a counted TCP socket.
pub(crate) type Ws = WebSocketStream<Conn>;

/// Wire size of a control frame with a `payload`-byte body (always < 126, so a 2-byte header),
/// plus the 4-byte mask when a client sends it.
pub(crate) fn control_len(payload: usize, masked: bool) -> usize {
    2 + payload + if masked { 4 } else { 0 }
}

/// Maps a tungstenite error at `stage`.
pub(crate) fn ws_error(stage: &'static str) -> impl FnOnce(WsError) -> TransportError {
    move |e| match e {
        WsError::Io(source) => TransportError::Io { stage, source },
        WsError::Http(resp) => TransportError::Refused {
            stage,
            detail: format!(
                "HTTP {}: {}",
                resp.status(),
                resp.body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .trim()
            ),
        },
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed { stage },
        other => TransportError::protocol(stage, other.to_string()),
    }
}

/// Describes a close frame for errors and logs: `1009 (message too big)`.
pub(crate) fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("close {}", u16::from(f.code)),
        Some(f) => format!("close {} ({})", u16::from(f.code), f.reason),
        None => "close without code".into(),
    }
}

/// Connects to `addr`, upgrades on `path`, and returns the socket with its handshake flag
/// still set (the caller ends it when its own setup is done).
pub(crate) async fn connect(
    ctx: &ClientContext,
    addr: &str,
    path: &str,
    config: WsConfig,
    bound: Duration,
) -> Result<(Ws, HandshakeFlag), TransportError> {
    let upgrade = async {
        let io = ctx.open(addr).await?;
        let flag = io.handshake_flag();
        let scheme = if io.is_tls() { "wss" } else { "ws" };
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            format!("{scheme}://{addr}{path}"),
            io,
            Some(config),
        )
        .await
        .map_err(ws_error("upgrade"))?;
        Ok((ws, flag))
    };
    tokio::time::timeout(bound, upgrade)
        .await
        .map_err(|_| TransportError::Timeout {
            stage: "connect",
            after_ms: bound.as_millis() as u64,
        })?
}

/// Sends a close frame and, if `drain`, reads until the peer's close arrives, all within
/// `bound`. Errors are ignored: the connection is going away either way.
pub(crate) async fn close_with(
    ws: &mut Ws,
    code: CloseCode,
    reason: &str,
    bound: Duration,
    drain: bool,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(bound, async {
        if ws.close(Some(frame)).await.is_ok() && drain {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
