//! The core conformance kit (ordered delivery, shutdown with a parked subscriber, garbage,
//! resume after a forced cut) against the WebSocket transport, plain and coalescing.

use transport_websocket::{WebSocket, WebSocketConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_default() {
    transport_core::conformance::run_all::<WebSocket>(WebSocketConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls() {
    let setup = transport_core::conformance::Setup::tls();
    transport_core::conformance::run_all_with::<WebSocket>(&setup, WebSocketConfig::default())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_coalescing_and_blocking() {
    let config = WebSocketConfig {
        coalesce: true,
        coalesce_max_bytes: 4096,
        slow_consumer: transport_websocket::SlowConsumer::Block,
        ..WebSocketConfig::default()
    };
    transport_core::conformance::run_all::<WebSocket>(config).await;
}
