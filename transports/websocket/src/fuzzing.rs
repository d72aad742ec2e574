//! What the fuzz targets in `fuzz/` need of the server's upgrade handling, behind the
//! `fuzzing` feature so the public API stays as it is: the request-head parser and checks,
//! and the server's WebSocket over any stream with the limits a server connection gets.

use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig as WsConfig;

use crate::config::WebSocketConfig;
use crate::proto::Route;

/// Largest request head the server reads.
pub const MAX_HEAD_BYTES: usize = crate::server::handshake::MAX_HEAD_BYTES;

/// A checked request head: the route with the `Sec-WebSocket-Accept` value, or the refusal's
/// status line.
pub type Checked = Result<(Route, String), &'static str>;

/// Parses a request head at the start of `buf`: `None` while incomplete, else its length and
/// what the checks made of it.
pub fn parse_head(buf: &[u8]) -> Option<(usize, Checked)> {
    crate::server::handshake::parse_head(buf).map(|(n, c)| (n, c.map_err(|r| r.status)))
}

/// Whether `key` is acceptable as `Sec-WebSocket-Key`.
pub fn valid_key(key: &[u8]) -> bool {
    crate::server::handshake::valid_key(key)
}

/// tungstenite's settings for a server connection under `config`.
pub fn server_ws_config(config: &WebSocketConfig) -> WsConfig {
    config.tungstenite(config.max_message_bytes)
}

/// The server's WebSocket over `io`, which already read `early` past the request head.
pub async fn server_stream<S>(io: S, early: &[u8], config: WsConfig) -> WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    crate::server::handshake::after_upgrade(io, early, config).await
}
