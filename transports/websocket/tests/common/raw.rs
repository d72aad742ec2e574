//! A raw WebSocket client connection made with tokio-tungstenite, not our client.

use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

use crate::common::bounded;

/// A raw WebSocket client connection.
pub type Raw = WebSocketStream<TcpStream>;

/// Opens a raw WebSocket on `path`.
pub async fn raw(addr: &str, path: &str) -> Raw {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (ws, _) = bounded(
        "raw upgrade",
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp),
    )
    .await
    .expect("upgrade");
    ws
}
