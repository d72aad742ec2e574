//! What the fuzz targets in `fuzz/` need of the server, behind the `fuzzing` feature so the
//! public API stays as it is: the router, and the connection loop (hyper's HTTP/1.1 parser,
//! the per-connection publisher session, the routes) over any stream instead of an accepted
//! socket, so a target can send a server any bytes. The codec and epoch parsers the client
//! uses are public already.

use axum::Router;
use tokio_util::sync::CancellationToken;
use transport_core::Counters;

use crate::config::LongPollConfig;
use crate::server::Extension;

/// The long-poll routes plus `extra`'s, as `start_extended` serves them; cancelling the token
/// releases held requests.
pub fn app(
    config: &LongPollConfig,
    extra: impl FnOnce(Extension) -> Router,
) -> (Router, CancellationToken) {
    let shutdown = CancellationToken::new();
    let app = crate::server::app(config, &Counters::new(), shutdown.clone(), extra);
    (app, shutdown)
}

/// Serves one connection over `io` with `app` (from [`app`]) until the peer's bytes end, as
/// the server serves each accepted socket.
pub async fn serve_io<I>(io: I, app: Router, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    crate::server::serve_io(io, app, shutdown).await;
}
