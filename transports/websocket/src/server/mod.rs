//! The WebSocket server: accepts TCP connections, counts every byte through `CountingIo`
//! (the HTTP upgrade as handshake), reads and answers the upgrade ([`handshake`], every refusal an HTTP response), and hands each connection to its
//! subscriber loop ([`conn`]) or publisher loop ([`publish`]). Topic state lives in [`topic`],
//! publisher sessions in [`transport_core::session`]. Each server picks a random epoch at start, named in every
//! notice ([`crate::proto`]).

mod conn;
pub(crate) mod handshake;
mod publish;
mod shared;
mod topic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use transport_core::session::Sessions;
use transport_core::{Acceptor, Conn, ServerContext, ServerHandle, TransportError};

use crate::WebSocketConfig;
use crate::proto::Route;
use shared::{ServerCounters, Shared};
use topic::{FanoutCounters, Topics};

/// How long shutdown waits for connection tasks beyond their `close_timeout`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running WebSocket server.
pub struct WebSocketServer {
    addr: SocketAddr,
    grace: Duration,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl WebSocketServer {
    /// Starts accepting on `listener`.
    pub fn start(
        config: WebSocketConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<Self, TransportError> {
        config.validate().map_err(TransportError::Config)?;
        let addr = listener
            .local_addr()
            .map_err(TransportError::io("server address"))?;
        let grace = config.close_timeout.saturating_add(SHUTDOWN_GRACE);
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let shared = Arc::new(Shared {
            epoch: new_epoch(),
            fanout: FanoutCounters::new(&ctx.counters),
            counters: ServerCounters::new(&ctx.counters),
            config,
            ctx,
            topics: Topics::default(),
            sessions: Sessions::default(),
            cancel: cancel.clone(),
        });
        let acceptor = Acceptor::new(listener, shared.ctx.socket, shared.ctx.wire.clone())
            .with_tls(shared.ctx.tls.clone(), &shared.ctx.counters);
        let spawner = tasks.clone();
        let stop = cancel.clone();
        tasks.spawn(async move {
            let serve = move |io| {
                let shared = shared.clone();
                async move {
                    // A failed upgrade ends only that connection; it is counted, not printed,
                    // so a hostile client cannot flood the output.
                    if serve_connection(&shared, io).await.is_err() {
                        shared.counters.rejected_upgrades.inc();
                    }
                }
            };
            let acceptor = acceptor.with_handshake();
            acceptor.run(stop.cancelled(), &spawner, serve).await;
        });
        Ok(WebSocketServer {
            addr,
            grace,
            cancel,
            tasks,
        })
    }
}

impl ServerHandle for WebSocketServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        // Connection loops see the cancellation and run the close handshake (1001), each
        // bounded by `close_timeout`.
        self.cancel.cancel();
        self.tasks.close();
        tokio::time::timeout(self.grace, self.tasks.wait())
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "server shutdown",
                after_ms: self.grace.as_millis() as u64,
            })
    }
}

/// A fresh epoch: random, non-zero, and below 2^53 so a JavaScript client parsing the notice
/// as JSON holds it exactly.
fn new_epoch() -> u64 {
    loop {
        let e = rand::random::<u64>() >> 11;
        if e != 0 {
            return e;
        }
    }
}

/// Upgrades one TCP connection and runs its loop until it ends.
async fn serve_connection(shared: &Shared, io: Conn) -> Result<(), TransportError> {
    let flag = io.handshake_flag();
    // A subscriber's connection reads only control frames: a small read buffer fits them, where
    // a publisher's streams data frames and reads them in large chunks.
    let c = &shared.config;
    let upgrade = handshake::accept(io, |route| match route {
        Route::Subscribe { .. } => {
            c.tungstenite_reading(c.subscriber_read_buffer_bytes, c.max_message_bytes)
        }
        Route::Publish { .. } => c.tungstenite(c.max_message_bytes),
    });
    // A peer that connects and never finishes the upgrade must not hold a task forever.
    let (ws, route) = tokio::select! {
        _ = shared.cancel.cancelled() => return Ok(()),
        r = tokio::time::timeout(shared.config.dead_after(), upgrade) => r
            .map_err(|_| TransportError::Timeout {
                stage: "upgrade",
                after_ms: shared.config.dead_after().as_millis() as u64,
            })??,
    };
    match route {
        Route::Subscribe { topic, from, epoch } => {
            conn::run_subscriber(shared, ws, flag, &topic, from, epoch).await;
        }
        Route::Publish { topic, session } => {
            publish::run_publisher(shared, ws, flag, &topic, session).await;
        }
    }
    Ok(())
}
