//! The raw-TCP server: accepts clients, registers subscribers per topic, and copies every
//! publisher frame to each subscriber's bounded queue (waiting when one is full, never dropping).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use transport_core::{Counter, CountingIo, ServerContext, ServerHandle, TransportError};

use crate::RawTcpConfig;
use crate::proto::{self, ACK, Role};

type Conn = Framed<CountingIo<TcpStream>, tokio_util::codec::LengthDelimitedCodec>;

/// How long shutdown waits for connection tasks after cancelling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Messages a subscriber writer batches into one flush at most.
const MAX_BATCH: usize = 256;

/// Subscriber queues per topic. Publishers take a snapshot of the list per message, so adding a
/// subscriber never blocks a publisher for longer than a pointer copy.
#[derive(Default)]
struct Topics(Mutex<HashMap<String, Arc<Vec<mpsc::Sender<Bytes>>>>>);

impl Topics {
    fn subscribers(&self, topic: &str) -> Arc<Vec<mpsc::Sender<Bytes>>> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(topic).cloned().unwrap_or_default()
    }

    fn add(&self, topic: &str, tx: mpsc::Sender<Bytes>) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let list = map.entry(topic.to_owned()).or_default();
        let mut next = Vec::clone(list);
        next.push(tx);
        *list = Arc::new(next);
    }

    fn remove_closed(&self, topic: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = map.get_mut(topic) {
            *list = Arc::new(list.iter().filter(|tx| !tx.is_closed()).cloned().collect());
        }
    }
}

struct Shared {
    config: RawTcpConfig,
    ctx: ServerContext,
    topics: Topics,
    cancel: CancellationToken,
    protocol_errors: Counter,
}

/// A running raw-TCP server.
pub struct RawTcpServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl RawTcpServer {
    /// Starts accepting on `listener`.
    pub fn start(
        config: RawTcpConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<Self, TransportError> {
        let addr = listener
            .local_addr()
            .map_err(TransportError::io("server address"))?;
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        let shared = Arc::new(Shared {
            protocol_errors: ctx.counters.counter("server_protocol_errors"),
            config,
            ctx,
            topics: Topics::default(),
            cancel: cancel.clone(),
        });
        let spawner = tasks.clone();
        tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shared.cancel.cancelled() => break,
                    a = listener.accept() => a,
                };
                // Accept errors (e.g. too many open files) are transient: keep serving.
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                spawner.spawn(async move {
                    // Errors end only this connection. Malformed input is counted where it is
                    // detected (while the connection is still open, so a peer that sees the
                    // close also sees the count); nothing is printed, so a hostile client
                    // cannot flood the output.
                    let _ = serve_connection(&shared, stream).await;
                });
            }
        });
        Ok(RawTcpServer {
            addr,
            cancel,
            tasks,
        })
    }
}

impl ServerHandle for RawTcpServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        self.cancel.cancel();
        self.tasks.close();
        tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "shutdown",
                after_ms: SHUTDOWN_GRACE.as_millis() as u64,
            })
    }
}

async fn serve_connection(shared: &Shared, stream: TcpStream) -> Result<(), TransportError> {
    shared.ctx.socket.apply(&stream)?;
    let io = CountingIo::with_handshake(stream, shared.ctx.wire.clone());
    let flag = io.handshake_flag();
    // Until the hello is accepted, a peer may only send a hello-sized frame: the codec reserves
    // buffer space for whatever length a frame header declares.
    let mut conn = Framed::new(io, proto::codec(1 + proto::MAX_TOPIC_LEN));
    let hello = tokio::select! {
        _ = shared.cancel.cancelled() => return Ok(()),
        f = conn.next() => f,
    };
    let hello = match hello {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            shared.protocol_errors.inc();
            return Err(TransportError::Io {
                stage: "read hello",
                source: e,
            });
        }
        None => return Ok(()),
    };
    let (role, topic) = proto::parse_hello(&hello).map_err(|d| {
        shared.protocol_errors.inc();
        TransportError::protocol("hello", d)
    })?;
    conn.codec_mut()
        .set_max_frame_length(shared.config.max_frame_bytes);
    match role {
        Role::Publisher => {
            conn.send(Bytes::from_static(&[ACK]))
                .await
                .map_err(TransportError::io("ack publisher"))?;
            flag.end();
            relay_publisher(shared, conn, &topic).await
        }
        Role::Subscriber => {
            let (tx, rx) = mpsc::channel(shared.config.queue_capacity);
            // Register before acknowledging: once the client sees the ack, every later message
            // of the topic reaches it.
            shared.topics.add(&topic, tx);
            conn.send(Bytes::from_static(&[ACK]))
                .await
                .map_err(TransportError::io("ack subscriber"))?;
            flag.end();
            let res = feed_subscriber(shared, conn, rx).await;
            shared.topics.remove_closed(&topic);
            res
        }
    }
}

async fn relay_publisher(
    shared: &Shared,
    mut conn: Conn,
    topic: &str,
) -> Result<(), TransportError> {
    // One registration with the shutdown signal for the whole connection, not one per message.
    let cancelled = shared.cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        let frame = tokio::select! {
            _ = &mut cancelled => return Ok(()),
            f = conn.next() => f,
        };
        let msg = match frame {
            Some(Ok(m)) => m.freeze(),
            Some(Err(e)) => {
                shared.protocol_errors.inc();
                return Err(TransportError::Io {
                    stage: "read message",
                    source: e,
                });
            }
            None => return Ok(()),
        };
        let subs = shared.topics.subscribers(topic);
        let mut gone = false;
        for tx in subs.iter() {
            // Fast path: room in the queue. Only a full queue (a slow subscriber) waits, and
            // that wait must not outlive shutdown.
            let sent = match tx.try_send(msg.clone()) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
                Err(mpsc::error::TrySendError::Full(m)) => tokio::select! {
                    _ = &mut cancelled => return Ok(()),
                    r = tx.send(m) => r.map_err(|_| ()),
                },
            };
            gone |= sent.is_err();
        }
        if gone {
            shared.topics.remove_closed(topic);
        }
    }
}

async fn feed_subscriber(
    shared: &Shared,
    conn: Conn,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<(), TransportError> {
    // Owned halves: writing and watching for the subscriber's EOF share no lock.
    let codec = conn.codec().clone();
    let (mut read_half, write_half) = conn.into_inner().into_split();
    let mut sink = FramedWrite::new(write_half, codec);
    let mut probe = [0u8; 64];
    let cancelled = shared.cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        tokio::select! {
            _ = &mut cancelled => return Ok(()),
            // Subscribers send nothing after the hello: data or EOF both end the subscription.
            _ = read_half.read(&mut probe) => return Ok(()),
            msg = rx.recv() => {
                let Some(msg) = msg else { return Ok(()) };
                let write = async {
                    sink.feed(msg).await?;
                    // Whatever queued up meanwhile goes out in the same flush, as any push
                    // server under load would do.
                    for _ in 1..MAX_BATCH {
                        let Ok(more) = rx.try_recv() else { break };
                        sink.feed(more).await?;
                    }
                    SinkExt::<Bytes>::flush(&mut sink).await
                };
                // A subscriber that stopped reading must not hold shutdown hostage.
                tokio::select! {
                    _ = &mut cancelled => return Ok(()),
                    r = write => r.map_err(TransportError::io("write messages"))?,
                }
            }
        }
    }
}
