//! What the fuzz targets in `fuzz/` need of the server, behind the `fuzzing` feature so the
//! public API stays as it is: the whole router of an SSE server (the long-poll routes plus the
//! events route), without a socket, so a target can send it any request. The client's
//! event-stream parser is public already.

use axum::Router;
use tokio_util::sync::CancellationToken;
use transport_core::Counters;

use crate::config::SseConfig;

/// The router `start` serves; cancelling the token ends held requests and streams.
pub fn app(config: &SseConfig) -> (Router, CancellationToken) {
    let routes = crate::server::routes(config, &Counters::new());
    transport_long_poll::fuzzing::app(&config.long_poll(), routes)
}
