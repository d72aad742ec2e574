//! Serving connections (accepted by the shared [`Acceptor`]), one task per connection, and
//! shutdown.
//!
//! A connection handles its requests strictly one after another: Kafka clients match
//! responses to requests by order as well as by correlation id, so a parked Fetch must delay
//! the requests behind it on the same connection. The socket is still read while a request is
//! handled, so pipelined requests queue in the buffer and a vanished peer is noticed. Responses
//! are flushed when no further complete request is buffered, batching pipelined answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use transport_core::occupancy::RetainedGauges;
use transport_core::{Acceptor, Conn, ServerContext};

use crate::BrokerError;
use crate::api::{self, Reply};
use crate::config::BrokerConfig;
use crate::frame::{FrameError, FrameReader};
use crate::group::Coordinator;
use crate::state::{BrokerCounters, ConnInfo, Shared};
use crate::topics::Topics;

/// How long [`Broker::shutdown`] waits for connection tasks before giving up on them.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Broker {
    /// Starts serving on `listener`; returns once connections are being accepted. With file
    /// storage, existing segments under `data_dir` are loaded first.
    pub async fn start(
        config: BrokerConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<Broker, BrokerError> {
        config.validate()?;
        let local_addr = listener
            .local_addr()
            .map_err(BrokerError::io("listener address"))?;
        let (stop, shutdown) = watch::channel(false);
        let topics = Topics::open(&config, RetainedGauges::register(&ctx.counters))?;
        let shared = Arc::new(Shared {
            groups: Coordinator::new(&config),
            config,
            topics,
            counters: BrokerCounters::register(&ctx.counters),
            producer_ids: crate::state::ProducerIds::new(),
            shutdown,
            drain: transport_core::Drain::default(),
        });
        let tasks = tokio::spawn(accept_loop(listener, shared.clone(), ctx));
        Ok(Broker {
            local_addr,
            stop,
            tasks,
            shared,
        })
    }

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Before a graceful stop: refuses produces (NOT_LEADER_OR_FOLLOWER, which producers
    /// retry elsewhere) and returns once no fetch has carried records for a quiet spell, so
    /// consumers have taken what a memory log would lose (bounded; see [`transport_core::Drain`]).
    pub async fn drain(&self) {
        self.shared.drain.run().await;
    }

    /// Stops accepting, releases parked fetches and group joins, closes every connection, and
    /// waits (bounded) for all tasks to end.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        let _ = self.stop.send(true);
        let mut tasks = self.tasks;
        match tokio::time::timeout(SHUTDOWN_BOUND, &mut tasks).await {
            Ok(_) => Ok(()),
            Err(_) => {
                tasks.abort();
                Err(BrokerError::ShutdownTimeout(
                    SHUTDOWN_BOUND.as_millis() as u64
                ))
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, ctx: ServerContext) {
    let tracker = TaskTracker::new();
    tracker.spawn(crate::group::expiry_task(shared.clone()));
    let mut shutdown = shared.shutdown.clone();
    let acceptor = Acceptor::new(listener, ctx.socket, ctx.wire)
        .with_handshake()
        .with_tls(ctx.tls, &ctx.counters);
    let conns = shared.clone();
    let serve = move |io| serve_connection(conns.clone(), io);
    acceptor
        .run(crate::state::stopped(&mut shutdown), &tracker, serve)
        .await;
    // The listener is closed; wait for the connections (they see the same shutdown signal).
    tracker.close();
    tracker.wait().await;
}

/// Metadata's API key.
const METADATA_KEY: i16 = 3;

async fn serve_connection(shared: Arc<Shared>, io: Conn) {
    let Ok(local) = io.tcp().local_addr() else {
        return;
    };
    let conn = ConnInfo { local };
    let handshake = io.handshake_flag();
    let mut io = BufWriter::with_capacity(64 * 1024, io);
    let mut reader = FrameReader::new(shared.config.max_request_bytes);
    let mut shutdown = shared.shutdown.clone();
    loop {
        let frame = tokio::select! {
            f = reader.next(&mut io) => f,
            () = crate::state::stopped(&mut shutdown) => break,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(FrameError::Closed) => break,
            Err(_) => {
                shared.counters.malformed_requests.inc();
                break;
            }
        };
        let key = (frame.len() >= 2).then(|| i16::from_be_bytes([frame[0], frame[1]]));
        if handshake.active() && key.is_some_and(|k| !api::is_handshake(k)) {
            handshake.end();
        }
        // Keep reading while the request is handled (a parked Fetch, a JoinGroup waiting for
        // the round): pipelined requests get buffered, and a peer that disconnects releases
        // its parked request at once instead of at max_wait. `biased` polls the handler
        // first, so a request that completes at once (an acks=0 produce followed by a close)
        // is never abandoned.
        let handled = api::handle(&shared, &conn, frame);
        tokio::pin!(handled);
        let reply = loop {
            tokio::select! {
                biased;
                r = &mut handled => break Some(r),
                n = reader.fill(&mut io), if reader.wants_more() => match n {
                    Ok(0) | Err(_) => break None,
                    Ok(_) => {}
                },
            }
        };
        let Some(reply) = reply else {
            shared.counters.abandoned_requests.inc();
            break;
        };
        let (bytes, close) = match reply {
            Reply::Frame(bytes) => (Some(bytes), false),
            Reply::Nothing => (None, false),
            Reply::Close(_reason) => {
                shared.counters.malformed_requests.inc();
                (None, true)
            }
        };
        // Flush unless another request is already buffered (its answer joins this write).
        let flush = close || !reader.has_frame();
        // A client that stops reading must not hold shutdown up: writes race the stop signal.
        let written = tokio::select! {
            r = write_reply(&mut io, bytes.as_deref(), flush) => r,
            () = crate::state::stopped(&mut shutdown) => break,
        };
        if written.is_err() || close {
            break;
        }
        // Clients send nothing but ApiVersions and Metadata until the first Metadata answer
        // is back, so ending the handshake here (not at the next request, whose bytes would
        // already have been read and counted as handshake) splits the bytes exactly.
        if key == Some(METADATA_KEY) {
            handshake.end();
        }
    }
    // Bounded: a peer that stopped reading cannot keep the task (and shutdown) waiting.
    let _ = tokio::time::timeout(Duration::from_millis(500), io.shutdown()).await;
}

async fn write_reply<W: AsyncWrite + Unpin>(
    io: &mut W,
    bytes: Option<&[u8]>,
    flush: bool,
) -> std::io::Result<()> {
    if let Some(b) = bytes {
        io.write_all(b).await?;
    }
    if flush {
        io.flush().await?;
    }
    Ok(())
}
