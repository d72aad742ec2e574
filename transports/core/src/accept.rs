//! The accept loop every server shares: accept until shutdown, set the socket options, wrap the
//! stream in the counting IO, and spawn the server's per-connection handler.
//!
//! Written once because each hand-written copy got one of its edges wrong: a loop that
//! `continue`s on every accept error spins a core while the process is out of file descriptors
//! (EMFILE), and one that returns on it stops serving for good. Here a per-connection error (the
//! peer reset before it was accepted) is skipped at once, and any other error waits a bounded,
//! doubling delay before the next try, so the loop survives the condition without spinning and
//! picks up again as soon as descriptors are free. A socket that cannot take the options (the
//! peer already reset it) is dropped rather than served with different settings.
//!
//! Under TLS the handshake runs in the connection's own task (bounded by
//! [`crate::tls::HANDSHAKE_TIMEOUT`]), never in the loop, so one slow or plaintext peer cannot
//! hold up the others; a failed handshake is counted in `server_tls_handshake_failures`.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use crate::tls::TlsServer;
use crate::{Conn, Counter, Counters, CountingIo, SocketOptions, WireStats};

/// The first wait after a failed accept.
pub const ACCEPT_BACKOFF_BASE: Duration = Duration::from_millis(10);
/// The longest wait between accept attempts while they keep failing.
pub const ACCEPT_BACKOFF_CAP: Duration = Duration::from_secs(1);

/// Where connections come from: a [`TcpListener`], or a scripted source in tests.
trait Source {
    fn accept(&mut self) -> impl Future<Output = io::Result<TcpStream>> + Send;
}

impl Source for TcpListener {
    async fn accept(&mut self) -> io::Result<TcpStream> {
        TcpListener::accept(self)
            .await
            .map(|(stream, _peer)| stream)
    }
}

/// Accepts connections for one server.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    socket: SocketOptions,
    wire: Arc<WireStats>,
    handshake: bool,
    tls: Option<(TlsServer, Counter)>,
}

impl Acceptor {
    /// Accepts on `listener`, applying `socket` to every connection and counting its bytes into
    /// `wire` as steady state from the first byte.
    pub fn new(listener: TcpListener, socket: SocketOptions, wire: Arc<WireStats>) -> Self {
        Acceptor {
            listener,
            socket,
            wire,
            handshake: false,
            tls: None,
        }
    }

    /// Runs a TLS handshake (when `tls` is given) on every connection before its handler sees
    /// it, counting failures into `counters`.
    pub fn with_tls(mut self, tls: Option<TlsServer>, counters: &Counters) -> Self {
        self.tls = tls.map(|t| (t, counters.counter("server_tls_handshake_failures")));
        self
    }

    /// Counts each connection's first bytes as handshake, until its handler ends it through
    /// [`CountingIo::handshake_flag`].
    pub fn with_handshake(mut self) -> Self {
        self.handshake = true;
        self
    }

    /// Accepts until `shutdown` resolves, spawning `handler(connection)` on `tracker` for each
    /// connection. The listener closes when this returns; spawned handlers keep running (the
    /// caller waits for them through `tracker`).
    pub async fn run<H, F>(
        self,
        shutdown: impl Future<Output = ()>,
        tracker: &TaskTracker,
        handler: H,
    ) where
        H: FnMut(Conn) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Acceptor {
            mut listener,
            socket,
            wire,
            handshake,
            tls,
        } = self;
        let conns = Wrap {
            socket,
            wire,
            handshake,
            tls,
        };
        serve(&mut listener, conns, shutdown, tracker, handler).await;
    }
}

/// What is done to every accepted stream before its handler sees it.
struct Wrap {
    socket: SocketOptions,
    wire: Arc<WireStats>,
    handshake: bool,
    tls: Option<(TlsServer, Counter)>,
}

impl Wrap {
    fn wrap(&self, stream: TcpStream) -> Option<CountingIo<TcpStream>> {
        self.socket.apply(&stream).ok()?;
        let wire = self.wire.clone();
        Some(if self.handshake {
            CountingIo::with_handshake(stream, wire)
        } else {
            CountingIo::new(stream, wire)
        })
    }

    /// Spawns the handler for `io`, after a TLS handshake when the server has TLS.
    fn spawn<H, F>(&self, io: CountingIo<TcpStream>, tracker: &TaskTracker, handler: &mut H)
    where
        H: FnMut(Conn) -> F + Clone + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let Some((tls, failures)) = &self.tls else {
            tracker.spawn(handler(Conn::plain(io)));
            return;
        };
        let (tls, failures) = (tls.clone(), failures.clone());
        let mut handler = handler.clone();
        let own_handshake = self.handshake;
        tracker.spawn(async move {
            match Conn::accept_tls(io, &tls, own_handshake).await {
                Ok(conn) => handler(conn).await,
                Err(_) => failures.inc(),
            }
        });
    }
}

async fn serve<S, H, F>(
    source: &mut S,
    conns: Wrap,
    shutdown: impl Future<Output = ()>,
    tracker: &TaskTracker,
    mut handler: H,
) where
    S: Source,
    H: FnMut(Conn) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = source.accept() => a,
        };
        match accepted {
            Ok(stream) => {
                failures = 0;
                if let Some(io) = conns.wrap(stream) {
                    conns.spawn(io, tracker, &mut handler);
                }
            }
            Err(e) if is_per_connection(&e) => {}
            Err(_) => {
                let delay = backoff(failures);
                failures = failures.saturating_add(1);
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// The wait after `failures` consecutive failed accepts: doubling from the base, capped.
fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    ACCEPT_BACKOFF_BASE
        .saturating_mul(factor)
        .min(ACCEPT_BACKOFF_CAP)
}

/// Errors that concern only the connection being accepted, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
