//! The long-poll server: axum over a listener that counts every byte and sets socket options
//! on accept, with a shutdown that releases parked polls at once and bounds the wait for the
//! rest.

mod routes;

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use transport_core::{
    CountingIo, ServerContext, ServerHandle, SocketOptions, TransportError, WireStats,
};

use crate::config::LongPollConfig;

/// How long shutdown waits for connections to finish after parked polls were released.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A listener whose connections are counted and get the run's socket options.
struct CountingListener {
    inner: TcpListener,
    wire: Arc<WireStats>,
    socket: SocketOptions,
}

impl axum::serve::Listener for CountingListener {
    type Io = CountingIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // A socket that cannot take the options (the peer already reset it) is
                    // dropped rather than served with different settings.
                    if self.socket.apply(&stream).is_ok() {
                        return (CountingIo::new(stream, self.wire.clone()), addr);
                    }
                }
                Err(e) if is_per_connection(&e) => {}
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A running long-poll server.
#[derive(Debug)]
pub struct LongPollServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    /// Taken by `shutdown`; `Option` because the type also implements `Drop`.
    task: Option<JoinHandle<io::Result<()>>>,
}

/// Starts serving on `listener`.
pub(crate) fn start(
    config: &LongPollConfig,
    listener: TcpListener,
    ctx: ServerContext,
) -> Result<LongPollServer, TransportError> {
    let addr = listener
        .local_addr()
        .map_err(TransportError::io("server address"))?;
    let shutdown = CancellationToken::new();
    let app = routes::router(config, &ctx.counters, shutdown.clone());
    let listener = CountingListener {
        inner: listener,
        wire: ctx.wire,
        socket: ctx.socket,
    };
    // One token both releases parked polls (handlers select on it) and starts axum's graceful
    // shutdown (stop accepting, close idle keep-alive connections, finish in-flight replies).
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let task = tokio::spawn(serve);
    Ok(LongPollServer {
        addr,
        shutdown,
        task: Some(task),
    })
}

impl ServerHandle for LongPollServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(mut self) -> Result<(), TransportError> {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let abort = task.abort_handle();
        match tokio::time::timeout(SHUTDOWN_GRACE, task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(TransportError::Io {
                stage: "server",
                source: e,
            }),
            Ok(Err(join)) => Err(TransportError::protocol(
                "server",
                format!("server task failed: {join}"),
            )),
            Err(_) => {
                // A client holding a request open past the grace period loses it.
                abort.abort();
                Err(TransportError::Timeout {
                    stage: "server shutdown",
                    after_ms: SHUTDOWN_GRACE.as_millis() as u64,
                })
            }
        }
    }
}

impl Drop for LongPollServer {
    fn drop(&mut self) {
        // Dropped without `shutdown`: still release parked polls so no task waits forever.
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod route_tests;
