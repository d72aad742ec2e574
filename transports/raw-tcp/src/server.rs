//! The raw-TCP server: accepts clients, registers subscribers per topic, and copies every
//! publisher frame to each subscriber's bounded queue (when one is full, `slow_consumer` says
//! whether publishers wait or the subscriber is closed), keeping a bounded log per topic so
//! broken subscriptions and publisher sessions resume.
//! Frames are relayed as the runs one read brought ([`Frames`]), never decoded one by one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use transport_core::session::{MAX_SESSIONS, SessionCount, Sessions};
use transport_core::{Acceptor, Counter, ServerContext, ServerHandle, TransportError};

use crate::RawTcpConfig;
use crate::log::{Fanout, Frames, MAX_TOPICS, Subscription, Topic, Topics};
use crate::proto::{self, Hello};

type Conn = Framed<transport_core::Conn, tokio_util::codec::LengthDelimitedCodec>;

/// How long shutdown waits for connection tasks after cancelling them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Messages relayed under one lock at most.
const MAX_BATCH: usize = 1024;
/// Queued runs of messages written to a subscriber in one write at most.
const MAX_RUNS_PER_WRITE: usize = 64;
/// Bytes a publisher read asks for at least: many frames per read under load.
const READ_CHUNK: usize = 64 * 1024;

struct Shared {
    config: RawTcpConfig,
    ctx: ServerContext,
    /// This incarnation's id: positions are only meaningful within one.
    epoch: u64,
    topics: Topics,
    /// Retention, the slow-consumer policy, and the gauges and counters they report to.
    fanout: Fanout,
    /// Publisher sessions by id.
    sessions: Sessions<u64>,
    cancel: CancellationToken,
    protocol_errors: Counter,
    resume_skipped: Counter,
    epoch_resets: Counter,
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
            resume_skipped: ctx.counters.counter("server_resume_skipped"),
            epoch_resets: ctx.counters.counter("server_epoch_resets"),
            epoch: rand::random::<u64>().max(1),
            fanout: Fanout::new(&config, &ctx.counters),
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
                    // Errors end only this connection. Malformed input is counted where it is
                    // detected (while the connection is still open, so a peer that sees the
                    // close also sees the count); nothing is printed, so a hostile client
                    // cannot flood the output.
                    let _ = serve_connection(&shared, io).await;
                }
            };
            let acceptor = acceptor.with_handshake();
            acceptor.run(stop.cancelled(), &spawner, serve).await;
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

/// Serves one connection: its hello says whether it publishes or subscribes, and to which topic.
async fn serve_connection(shared: &Shared, io: transport_core::Conn) -> Result<(), TransportError> {
    // Until the hello is accepted, a peer may only send a hello-sized frame: the codec reserves
    // buffer space for whatever length a frame header declares.
    let mut conn = Framed::new(io, proto::codec(proto::MAX_HELLO_LEN));
    let Some((hello, topic)) = read_hello(shared, &mut conn).await? else {
        return Ok(());
    };
    match hello {
        Hello::Publisher { session } => serve_publisher(shared, conn, &topic, session).await,
        Hello::Subscriber { epoch, from } => {
            serve_subscriber(shared, conn, &topic, epoch, from).await
        }
    }
}

/// Reads and checks the hello, then lifts the frame limit to message size. `None` if the server
/// shuts down or the peer leaves first.
async fn read_hello(
    shared: &Shared,
    conn: &mut Conn,
) -> Result<Option<(Hello, Arc<Topic>)>, TransportError> {
    let hello = tokio::select! {
        _ = shared.cancel.cancelled() => return Ok(None),
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
        None => return Ok(None),
    };
    let (hello, topic) = proto::parse_hello(&hello).map_err(|d| {
        shared.protocol_errors.inc();
        TransportError::protocol("hello", d)
    })?;
    conn.codec_mut()
        .set_max_frame_length(shared.config.max_frame_bytes);
    let Some(topic) = shared.topics.get(&topic) else {
        shared.protocol_errors.inc();
        return Err(TransportError::protocol(
            "hello",
            format!("a new topic would pass the limit of {MAX_TOPICS}"),
        ));
    };
    Ok(Some((hello, topic)))
}

/// Claims the publisher's session, acknowledges with its count, then relays its messages.
async fn serve_publisher(
    shared: &Shared,
    mut conn: Conn,
    topic: &Topic,
    session: u64,
) -> Result<(), TransportError> {
    let Some(claim) = shared.sessions.claim(session) else {
        shared.protocol_errors.inc();
        return Err(TransportError::protocol(
            "hello",
            format!("{MAX_SESSIONS} publisher sessions are live or recent"),
        ));
    };
    let (superseded, known) = (claim.superseded.clone(), claim.known);
    // The previous connection of this session finishes its current message first, so
    // the count sent back is exact.
    let relayed = tokio::select! {
        _ = shared.cancel.cancelled() => return Ok(()),
        c = claim.count() => c,
    };
    let position = if known {
        *relayed
    } else {
        proto::UNKNOWN_SESSION
    };
    conn.send(proto::ack(shared.epoch, position))
        .await
        .map_err(TransportError::io("ack publisher"))?;
    conn.get_ref().end_handshake();
    // From here on the server reads raw bytes: message frames are relayed as they
    // arrived, never decoded one by one.
    let parts = conn.into_parts();
    let publisher = Relay {
        io: parts.io,
        buf: parts.read_buf,
        topic,
    };
    relay_publisher(shared, publisher, relayed, superseded).await
}

/// Registers the subscriber on its topic from the position it asked for, acknowledges with the
/// position it gets, then feeds it until it leaves.
async fn serve_subscriber(
    shared: &Shared,
    mut conn: Conn,
    topic: &Topic,
    epoch: u64,
    from: u64,
) -> Result<(), TransportError> {
    let sub = tokio::select! {
        _ = shared.cancel.cancelled() => return Ok(()),
        s = topic.subscribe(shared.epoch, epoch, from, &shared.fanout) => s,
    };
    let sub = sub.map_err(|d| {
        shared.protocol_errors.inc();
        TransportError::protocol("subscribe", d)
    })?;
    shared.resume_skipped.add(sub.skipped);
    if sub.epoch_reset {
        shared.epoch_resets.inc();
    }
    // Registered before acknowledging: once the client sees the ack, every later
    // message of the topic reaches it, after the backlog.
    conn.send(proto::ack(shared.epoch, sub.start))
        .await
        .map_err(TransportError::io("ack subscriber"))?;
    conn.get_ref().end_handshake();
    let res = feed_subscriber(shared, conn, sub).await;
    // Drops the queues of subscribers that are gone, this one included.
    topic.prune();
    res
}

/// A publisher connection after its handshake: the socket, what was read but not yet
/// relayed, and the topic it publishes to.
struct Relay<'a> {
    io: transport_core::Conn,
    buf: BytesMut,
    topic: &'a Topic,
}

/// What the next read of a publisher brought.
enum Read {
    /// More bytes are buffered.
    More,
    /// The connection ended cleanly between frames.
    Ended,
}

impl Relay<'_> {
    /// Reads more bytes (room for more of the `next_len` the next frame needs), or reports the
    /// end.
    async fn read(&mut self, next_len: usize) -> Result<Read, TransportError> {
        self.buf.reserve(room(self.buf.len(), next_len));
        let n = self
            .io
            .read_buf(&mut self.buf)
            .await
            .map_err(TransportError::io("read message"))?;
        match (n, self.buf.is_empty()) {
            (0, true) => Ok(Read::Ended),
            (0, false) => Err(TransportError::protocol(
                "read message",
                "the connection closed inside a frame",
            )),
            _ => Ok(Read::More),
        }
    }
}

/// Bytes to reserve before a read, with `buffered` bytes held and `next_len` needed for the
/// next frame: a chunk, or more of a large frame, but never more than has arrived. A frame
/// header is a claim until its bytes come: reserving all of it at once let a thousand
/// connections that each declared the largest frame and sent 16 bytes take 16 GiB of address
/// space. Growing by at most the bytes already here still takes a large frame in a few
/// doublings.
fn room(buffered: usize, next_len: usize) -> usize {
    READ_CHUNK.max(next_len.saturating_sub(buffered).min(buffered))
}

async fn relay_publisher(
    shared: &Shared,
    mut conn: Relay<'_>,
    mut relayed: SessionCount,
    superseded: CancellationToken,
) -> Result<(), TransportError> {
    // Shutdown, or a successor of this session waiting for this connection: either stops the
    // relay before anything more is relayed (the successor then reads an exact count). One
    // registration for the whole connection, not one per read.
    let stop = async {
        tokio::select! {
            _ = shared.cancel.cancelled() => {}
            _ = superseded.cancelled() => {}
        }
    };
    tokio::pin!(stop);
    // A run never outnumbers a subscriber queue, which must find room for all of it at once.
    let max = MAX_BATCH.min(shared.config.queue_capacity);
    let max_frame = shared.config.max_frame_bytes;
    loop {
        if superseded.is_cancelled() || shared.cancel.is_cancelled() {
            return Ok(());
        }
        let scan = proto::scan_frames(&conn.buf, max_frame, max).map_err(|d| {
            shared.protocol_errors.inc();
            TransportError::protocol("read message", d)
        })?;
        if scan.count > 0 {
            // Copied out, so the read buffer stays unshared and is reused: a run kept in the
            // log must not pin a whole read buffer behind it.
            let frames = Frames::from_encoded(
                bytes::Bytes::copy_from_slice(&conn.buf[..scan.len]),
                scan.count,
            );
            conn.buf.advance(scan.len);
            if !conn.topic.append(&frames, &shared.fanout, &mut stop).await {
                return Ok(());
            }
            *relayed += scan.count as u64;
            continue;
        }
        if scan.sync {
            conn.buf.advance(proto::FRAME_HEADER_LEN);
            // Everything before the sync has been relayed: say how much. A peer that stops
            // reading its answers must not keep the session from a successor.
            let reply = proto::sync_reply_frame(*relayed);
            tokio::select! {
                _ = &mut stop => return Ok(()),
                r = write_flushed(&mut conn.io, &reply) => r.map_err(TransportError::io("sync reply"))?,
            }
            continue;
        }
        let read = tokio::select! {
            biased;
            _ = &mut stop => return Ok(()),
            r = conn.read(scan.next_len) => r,
        };
        match read {
            Ok(Read::More) => {}
            Ok(Read::Ended) => return Ok(()),
            Err(e) => {
                shared.protocol_errors.inc();
                return Err(e);
            }
        }
    }
}

/// Writes the backlog, then whatever the queue brings, until the subscriber leaves, the
/// server stops, or the `disconnect` policy drops it (then the connection just closes: the
/// subscriber resumes from the position it counted).
async fn feed_subscriber(
    shared: &Shared,
    conn: Conn,
    sub: Subscription,
) -> Result<(), TransportError> {
    let Subscription {
        backlog, mut queue, ..
    } = sub;
    // Owned halves: writing and watching for the subscriber's EOF share no lock. The hello
    // was its only frame, so nothing is left in the read buffer.
    let (mut read_half, mut write_half) = conn.into_inner().into_split();
    let mut probe = [0u8; 64];
    let kicked = queue.kicked();
    // Shutdown, a kick, or the subscriber's EOF (it sends nothing after the hello: data or EOF
    // both end the subscription) all end feeding, whatever the write is waiting for.
    let ended = async {
        tokio::select! {
            _ = shared.cancel.cancelled() => {}
            _ = kicked.cancelled() => {}
            _ = read_half.read(&mut probe) => {}
        }
    };
    tokio::pin!(ended);
    for frames in &backlog {
        tokio::select! {
            _ = &mut ended => return Ok(()),
            r = write_flushed(&mut write_half, frames.bytes()) => r.map_err(TransportError::io("write backlog"))?,
        }
    }
    let mut runs = Vec::with_capacity(MAX_RUNS_PER_WRITE);
    let mut out = BytesMut::new();
    loop {
        let n = tokio::select! {
            _ = &mut ended => return Ok(()),
            n = queue.recv_many(&mut runs, MAX_RUNS_PER_WRITE) => n,
        };
        if n == 0 {
            return Ok(());
        }
        let count = runs.iter().map(Frames::count).sum();
        // Whatever queued up meanwhile goes out in the same write, as any push server under
        // load would do.
        let data: &[u8] = if let [one] = &runs[..] {
            one.bytes()
        } else {
            out.clear();
            runs.iter().for_each(|r| out.extend_from_slice(r.bytes()));
            &out
        };
        let len = data.len();
        // A subscriber that stopped reading must not hold shutdown hostage.
        tokio::select! {
            _ = &mut ended => return Ok(()),
            r = write_flushed(&mut write_half, data) => r.map_err(TransportError::io("write messages"))?,
        }
        runs.clear();
        queue.written(count, len);
    }
}

/// Writes `data` whole, then flushes. Over plain TCP the flush is a no-op; under TLS a write
/// the socket could not take whole leaves the rest in the session's buffer, where only a flush
/// (or the next write) sends it: without one a subscriber could wait for data already
/// "written".
pub(crate) async fn write_flushed<W>(io: &mut W, data: &[u8]) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    io.write_all(data).await?;
    io.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_grows_with_the_bytes_that_arrived_not_the_declared_length() {
        // A claim of 16 MiB with 16 bytes here gets a chunk, not 16 MiB.
        assert_eq!(room(16, 16 << 20), READ_CHUNK);
        // Half of a large frame here: room for the rest, not more.
        assert_eq!(room(8 << 20, 16 << 20), 8 << 20);
        // A quarter here: room for as much again.
        assert_eq!(room(4 << 20, 16 << 20), 4 << 20);
        // Small frames: a chunk.
        assert_eq!(room(0, 100), READ_CHUNK);
    }
}
