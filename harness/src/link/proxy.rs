//! The link proxy: a TCP relay on `127.0.0.1:0` that every client of a run connects through,
//! shaping each direction (delay, jitter, bandwidth) and injecting faults on command.
//!
//! Each relayed connection runs two pipes. A pipe's reader stamps every chunk with its release
//! time (see [`super::shape`]) and queues it; its writer sleeps until that time and writes the
//! chunk. The queue is bounded, so a slow link pushes back on the sender's socket as a real one
//! does. No bytes are counted here: wire accounting stays at the endpoints. Tokio's timer has
//! millisecond resolution, so each crossing's delay is rounded up by less than 1 ms (a 50 ms
//! round trip through publisher and subscriber links measures about 52 ms end to end).
//!
//! Faults: [`LinkProxy::cut_all`] resets every relayed connection (RST, not FIN, as a middlebox
//! or a dead NAT entry would); [`LinkProxy::blackhole`] holds every byte (and new connections)
//! for a while, the way TCP experiences a path that drops packets and later recovers.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::shape::{Bucket, DelayLine, LinkConfig};

/// Bytes read per chunk: small enough that a chunk's serialisation on a slow link stays short.
const CHUNK: usize = 16 * 1024;
/// Chunks queued per pipe before the reader stops reading (pushback on the sender).
const QUEUE: usize = 64;
/// Bound on connecting to the server for a new client connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which clients a connection belongs to: each group has its own listening port, so faults
/// can target one side (a publisher without reconnect logic need not spoil a subscriber test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Publishers' connections.
    Publishers = 0,
    /// Subscribers' connections.
    Subscribers = 1,
}

/// What the proxy has seen, for results and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: u64,
    /// Connections reset by [`LinkProxy::cut_all`].
    pub reset: u64,
}

struct Shared {
    link: LinkConfig,
    upstream: Mutex<SocketAddr>,
    cut: [Mutex<CancellationToken>; 2],
    blocked_until: Mutex<Option<Instant>>,
    accepted: AtomicU64,
    reset: AtomicU64,
}

impl Shared {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits while a blackhole is in force (it may be extended while waiting).
    async fn pass_blackhole(&self) {
        loop {
            let until = *Self::lock(&self.blocked_until);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

/// A running link proxy. Dropping it stops accepting and resets every relayed connection.
pub struct LinkProxy {
    addrs: [SocketAddr; 2],
    shared: Arc<Shared>,
    conns: Arc<Mutex<JoinSet<()>>>,
    accept: [tokio::task::JoinHandle<()>; 2],
}

impl LinkProxy {
    /// Starts a proxy on a fresh loopback port relaying to `upstream` through `link`.
    pub async fn start(upstream: SocketAddr, link: LinkConfig) -> io::Result<LinkProxy> {
        let listeners = [
            TcpListener::bind("127.0.0.1:0").await?,
            TcpListener::bind("127.0.0.1:0").await?,
        ];
        let addrs = [listeners[0].local_addr()?, listeners[1].local_addr()?];
        let shared = Arc::new(Shared {
            link,
            upstream: Mutex::new(upstream),
            cut: [
                Mutex::new(CancellationToken::new()),
                Mutex::new(CancellationToken::new()),
            ],
            blocked_until: Mutex::new(None),
            accepted: AtomicU64::new(0),
            reset: AtomicU64::new(0),
        });
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let [pubs, subs] = listeners;
        let accept = [
            tokio::spawn(accept_loop(
                pubs,
                Side::Publishers,
                shared.clone(),
                conns.clone(),
            )),
            tokio::spawn(accept_loop(
                subs,
                Side::Subscribers,
                shared.clone(),
                conns.clone(),
            )),
        ];
        Ok(LinkProxy {
            addrs,
            shared,
            conns,
            accept,
        })
    }

    /// The address clients of `side` connect to.
    pub fn addr(&self, side: Side) -> SocketAddr {
        self.addrs[side as usize]
    }

    /// The link it emulates.
    pub fn link(&self) -> LinkConfig {
        self.shared.link
    }

    /// Points new connections at another server address (after a restart on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *Shared::lock(&self.shared.upstream) = upstream;
    }

    /// Resets every relayed connection at once; clients see a connection reset.
    pub fn cut_all(&self) {
        self.cut(Side::Publishers);
        self.cut(Side::Subscribers);
    }

    /// Resets every relayed connection of one side.
    pub fn cut(&self, side: Side) {
        let fresh = CancellationToken::new();
        let old = std::mem::replace(&mut *Shared::lock(&self.shared.cut[side as usize]), fresh);
        old.cancel();
    }

    /// Holds all traffic, and new connections, for `duration` from now.
    pub fn blackhole(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut b = Shared::lock(&self.shared.blocked_until);
        *b = Some(b.map_or(until, |t| t.max(until)));
    }

    /// Counts so far.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            reset: self.shared.reset.load(Ordering::Relaxed),
        }
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        for a in &self.accept {
            a.abort();
        }
        self.cut_all();
        Shared::lock(&self.conns).abort_all();
    }
}

async fn accept_loop(
    listener: TcpListener,
    side: Side,
    shared: Arc<Shared>,
    conns: Arc<Mutex<JoinSet<()>>>,
) {
    let mut seed = side as u64 * (1 << 32);
    loop {
        let Ok((down, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        seed += 1;
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let mut set = Shared::lock(&conns);
        // Reap finished connections so the set does not grow over a long run.
        while set.try_join_next().is_some() {}
        set.spawn(relay(down, side, shared, seed));
    }
}

async fn relay(down: TcpStream, side: Side, shared: Arc<Shared>, seed: u64) {
    let cut = Shared::lock(&shared.cut[side as usize]).clone();
    // A connection attempt into a blackhole waits, as a SYN would be retransmitted.
    shared.pass_blackhole().await;
    let upstream = *Shared::lock(&shared.upstream);
    let up = tokio::select! {
        _ = cut.cancelled() => return,
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)) => r,
    };
    let Ok(Ok(up)) = up else {
        // The server is gone (restarting): reset the client so it retries.
        let _ = down.set_zero_linger();
        return;
    };
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (mut dr, mut dw) = down.into_split();
    let (mut ur, mut uw) = up.into_split();
    // A side the link does not apply to is relayed as is (faults still reach it).
    let link = shared.link.for_side(side);
    // Each client connection has its own link (a phone's radio, a home line), so one client's
    // traffic never queues behind another's.
    let to_server = link.bandwidth_bits_per_sec.map(Bucket::new);
    let to_client = link.bandwidth_bits_per_sec.map(Bucket::new);
    let pipes = async {
        tokio::try_join!(
            pipe(
                &mut dr,
                &mut uw,
                DelayLine::new(&link, seed * 2),
                to_server.as_ref(),
                &shared
            ),
            pipe(
                &mut ur,
                &mut dw,
                DelayLine::new(&link, seed * 2 + 1),
                to_client.as_ref(),
                &shared
            ),
        )
    };
    let reset = tokio::select! {
        _ = cut.cancelled() => true,
        r = pipes => r.is_err(),
    };
    if reset {
        if cut.is_cancelled() {
            shared.reset.fetch_add(1, Ordering::Relaxed);
        }
        // Zero linger turns the close into an RST on both sides.
        let _ = dw.as_ref().set_zero_linger();
        let _ = uw.as_ref().set_zero_linger();
    }
}

/// Relays one direction until EOF (then half-closes the far side) or an error.
async fn pipe(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut delay: DelayLine,
    bucket: Option<&Bucket>,
    shared: &Shared,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, bytes::Bytes)>(QUEUE);
    let read = async move {
        loop {
            let mut buf = BytesMut::with_capacity(CHUNK);
            if from.read_buf(&mut buf).await? == 0 {
                return Ok::<_, io::Error>(());
            }
            let now = std::time::Instant::now();
            let sent = bucket.map_or(now, |b| b.reserve(buf.len(), now));
            let release = Instant::from_std(delay.release(sent));
            if tx.send((release, buf.freeze())).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async {
        while let Some((release, chunk)) = rx.recv().await {
            if release > Instant::now() {
                tokio::time::sleep_until(release).await;
            }
            shared.pass_blackhole().await;
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}
