//! What every behaviour test needs: bounded waits and a server on a fresh port. The raw
//! tokio-tungstenite client (which follows the documented protocol, not our client) is split
//! by use into `raw.rs` (connect), `subscribe.rs` (subscribe and read the notice),
//! `publish.rs` (send messages) and `frames.rs` (decode data frames), so each test includes
//! only what it uses and nothing is dead code.

use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, Transport};
use transport_websocket::{WebSocket, WebSocketConfig, WebSocketServer};

/// Bound on every wait in these tests (they have always allowed 20 s, twice test-support's
/// default; kept so moving the helper changes no bound).
const BOUND: Duration = Duration::from_secs(20);

/// Awaits `f` within [`BOUND`], panicking with `what` otherwise.
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    transport_test_support::bounded_for(BOUND, what, f).await
}

/// Starts a server with `config` on 127.0.0.1:0.
pub async fn server(config: &WebSocketConfig) -> (WebSocketServer, ServerContext, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ctx = ServerContext::fresh();
    let server = WebSocket::serve(config, listener, ctx.clone())
        .await
        .expect("server starts");
    let addr = transport_core::ServerHandle::local_addr(&server).to_string();
    (server, ctx, addr)
}
