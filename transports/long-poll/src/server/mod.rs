//! The long-poll server: the axum router served over hyper connections (HTTP/1.1 and HTTP/2,
//! one server for both) that this module accepts (through the shared [`Acceptor`], which counts
//! every byte and sets socket options) and tracks itself.
//!
//! Shutdown is in two steps. First graceful: parked polls are released at once, accepting
//! stops, idle keep-alive connections close, in-flight replies finish. Whatever is still
//! running after [`SHUTDOWN_GRACE`] (a client that never finishes sending its body or never
//! reads its reply) is then dropped, connection by connection, so shutdown leaves no task or
//! socket behind. That is why connections are not served by `axum::serve`: it spawns each
//! connection as a task it does not hand out, and aborting its future leaves them running.

mod routes;
pub mod session;

pub use routes::valid_topic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;
use transport_core::occupancy::RetainedGauges;
use transport_core::{Acceptor, ServerContext, ServerHandle, TransportError};

use crate::config::{LongPollConfig, MAX_STREAMS_PER_CONNECTION};
use crate::store::Store;
use session::ConnSession;

/// What the server offers by ALPN under TLS, preferred first: it speaks both.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

/// How long shutdown waits for connections to finish after parked polls were released.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long shutdown waits for dropped connections' tasks to end. They end at their next poll,
/// so this bound is only reached if the runtime itself is stuck.
const DROP_BOUND: Duration = Duration::from_secs(1);

/// The two shutdown signals every task watches.
#[derive(Clone)]
struct Stop {
    /// Graceful: release parked polls, stop accepting, finish in-flight replies.
    graceful: CancellationToken,
    /// Hard: drop the connection now, with whatever request it was serving.
    drop_now: CancellationToken,
}

/// Accepts until the graceful signal, serving each connection in a task of `tracker`.
async fn accept_loop(acceptor: Acceptor, app: Router, stop: Stop, tracker: TaskTracker) {
    let graceful = stop.graceful.clone();
    let serve = move |io| serve_connection(io, app.clone(), stop.clone());
    acceptor.run(graceful.cancelled(), &tracker, serve).await;
}

/// Serves one connection, HTTP/1.1 or HTTP/2 (told apart by the client's first bytes: the
/// HTTP/2 preface, after ALPN `h2` or as h2c with prior knowledge), until the peer closes it, a
/// graceful shutdown completes, or the hard signal drops it (closing the socket, since the
/// connection owns it).
async fn serve_connection<I>(io: I, app: Router, stop: Stop)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The publisher session this connection serves, if a POST names one; every request of the
    // connection sees it as an extension.
    let session = Arc::new(ConnSession::default());
    let for_requests = session.clone();
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(for_requests.clone());
        // The router is always ready (`poll_ready` is a no-op), as `TowerToHyperService` assumes.
        app.clone().call(req)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    loop {
        tokio::select! {
            // Errors are the peer's (reset, malformed request): nothing to do but close.
            _ = conn.as_mut() => return,
            () = stop.drop_now.cancelled() => return,
            () = stop.graceful.cancelled() => break,
            // Polled next to the connection, so the request in flight finishes first.
            () = session.release_when_superseded() => {}
        }
    }
    // Idle keep-alive connections close now; a request in flight gets its reply first.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stop.drop_now.cancelled() => {}
    }
}

/// A running long-poll server.
#[derive(Debug)]
pub struct LongPollServer {
    addr: SocketAddr,
    /// Its topics, and the drain state a graceful stop sets.
    store: Arc<Store>,
    graceful: CancellationToken,
    drop_now: CancellationToken,
    /// The accept loop and every connection task.
    tracker: TaskTracker,
    /// Taken by `shutdown`; `Option` because the type also implements `Drop`.
    accept: Option<JoinHandle<()>>,
}

/// What a transport that adds routes to this server (SSE) shares with the long-poll routes:
/// the topics, the server's epoch, and the graceful-shutdown signal its handlers must watch.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Every topic's retained messages; publishes through the long-poll routes land here.
    pub store: Arc<Store>,
    /// This server's epoch ([`crate::epoch`]).
    pub epoch: u64,
    /// Cancelled when shutdown starts: held requests and streams end at once.
    pub shutdown: CancellationToken,
}

/// Starts serving on `listener`.
pub(crate) fn start(
    config: &LongPollConfig,
    listener: TcpListener,
    ctx: ServerContext,
) -> Result<LongPollServer, TransportError> {
    start_extended(config, listener, ctx, |_| Router::new())
}

/// Starts serving on `listener` the long-poll routes plus those `extra` builds (which must not
/// overlap them), with the same connections, byte counting, sessions and shutdown.
pub fn start_extended(
    config: &LongPollConfig,
    listener: TcpListener,
    ctx: ServerContext,
    extra: impl FnOnce(Extension) -> Router,
) -> Result<LongPollServer, TransportError> {
    let addr = listener
        .local_addr()
        .map_err(TransportError::io("server address"))?;
    let stop = Stop {
        graceful: CancellationToken::new(),
        drop_now: CancellationToken::new(),
    };
    // One token both releases parked polls (handlers select on it) and starts the graceful
    // shutdown of every connection.
    let store = Arc::new(Store::reporting(
        config.retention_messages as usize,
        RetainedGauges::register(&ctx.counters),
    ));
    let app = app_over(
        config,
        &ctx.counters,
        stop.graceful.clone(),
        store.clone(),
        extra,
    );
    // Long-poll has no handshake to split off: every byte counts as steady state (under TLS,
    // after the TLS handshake; the HTTP/2 preface and SETTINGS count as steady here, see the
    // crate README).
    let tls = ctx.tls.as_ref().map(|t| t.with_alpn(ALPN));
    let acceptor = Acceptor::new(listener, ctx.socket, ctx.wire).with_tls(tls, &ctx.counters);
    let tracker = TaskTracker::new();
    let accept = tracker.spawn(accept_loop(acceptor, app, stop.clone(), tracker.clone()));
    Ok(LongPollServer {
        addr,
        store,
        graceful: stop.graceful,
        drop_now: stop.drop_now,
        tracker,
        accept: Some(accept),
    })
}

/// Serves one connection over `io` with `app` until the peer closes it or `shutdown` is
/// cancelled (what a server does with each accepted socket, for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) async fn serve_io<I>(io: I, app: Router, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let stop = Stop {
        graceful: shutdown,
        drop_now: CancellationToken::new(),
    };
    serve_connection(io, app, stop).await;
}

/// The long-poll routes plus those `extra` builds, over a fresh store and epoch; `shutdown`
/// releases held requests.
#[cfg(feature = "fuzzing")]
pub(crate) fn app(
    config: &LongPollConfig,
    counters: &transport_core::Counters,
    shutdown: CancellationToken,
    extra: impl FnOnce(Extension) -> Router,
) -> Router {
    let store = Arc::new(Store::reporting(
        config.retention_messages as usize,
        RetainedGauges::register(counters),
    ));
    app_over(config, counters, shutdown, store, extra)
}

/// [`app`] over a given store (the server keeps it, to drain before it stops).
fn app_over(
    config: &LongPollConfig,
    counters: &transport_core::Counters,
    shutdown: CancellationToken,
    store: Arc<Store>,
    extra: impl FnOnce(Extension) -> Router,
) -> Router {
    let ext = Extension {
        store,
        epoch: crate::epoch::generate(),
        shutdown: shutdown.clone(),
    };
    let app = routes::router_with(config, counters, shutdown, ext.store.clone(), ext.epoch);
    extra(ext).merge(app)
}

impl LongPollServer {
    /// Graceful shutdown bounded by `grace`, then every remaining connection is dropped.
    async fn shutdown_within(mut self, grace: Duration) -> Result<(), TransportError> {
        self.graceful.cancel();
        // Closed: `wait` ends once the accept loop and every connection task have ended.
        self.tracker.close();
        let finished = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !finished {
            // A client holding a request open past the grace period loses it.
            self.drop_now.cancel();
            let _ = tokio::time::timeout(DROP_BOUND, self.tracker.wait()).await;
        }
        if let Some(accept) = self.accept.take()
            && let Ok(Err(join)) = tokio::time::timeout(DROP_BOUND, accept).await
        {
            return Err(TransportError::protocol(
                "server",
                format!("accept task failed: {join}"),
            ));
        }
        if finished {
            Ok(())
        } else {
            Err(TransportError::Timeout {
                stage: "server shutdown",
                after_ms: grace.as_millis() as u64,
            })
        }
    }
}

impl ServerHandle for LongPollServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        self.shutdown_within(SHUTDOWN_GRACE).await
    }

    async fn drain(&self) {
        self.store.drain.run().await;
    }
}

impl Drop for LongPollServer {
    fn drop(&mut self) {
        // Dropped without `shutdown`: still release parked polls so no task waits forever.
        self.graceful.cancel();
    }
}

#[cfg(test)]
mod route_tests;

#[cfg(test)]
mod shutdown_tests;
