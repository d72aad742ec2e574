//! Byte counting at the socket: every byte a transport reads or writes goes through
//! [`CountingIo`], so overhead is measured rather than estimated.
//!
//! One [`WireStats`] collects one side of a run (all client sockets, or all server sockets).
//! Bytes are split into *handshake* (connection setup: an HTTP upgrade, a subscribe frame, Kafka
//! ApiVersions/Metadata) and *steady* (everything after), because a long run amortises the first
//! and a short-lived connection pattern pays it again and again.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock;
use crate::gate::ReadGate;

#[path = "wire_align.rs"]
mod align;
#[path = "wire_gate.rs"]
mod gated;
use align::Align;
use gated::Gated;

/// Byte totals for one side (client or server) of a run.
#[derive(Debug, Default)]
pub struct WireStats {
    read: AtomicU64,
    written: AtomicU64,
    handshake_read: AtomicU64,
    handshake_written: AtomicU64,
    connections: AtomicU64,
    probes: Probes,
}

/// Counts kept outside a [`CountingIo`] (the kernel's counters of a socket a client library
/// owns) that must be brought up to date before every [`WireStats::snapshot`], so that a
/// snapshot is exact at the instant it is taken, as for sockets we wrap.
pub trait WireProbe: Send + Sync {
    /// Adds what moved since the last call to the stats it was registered with.
    fn refresh(&self);
}

/// The probes of one [`WireStats`], held weakly: a probe goes when its client does.
#[derive(Default)]
struct Probes(Mutex<Vec<Weak<dyn WireProbe>>>);

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        write!(f, "Probes({n})")
    }
}

/// A point-in-time copy of [`WireStats`]. Steady and handshake bytes are disjoint.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct WireSnapshot {
    /// Steady-state bytes read.
    pub read: u64,
    /// Steady-state bytes written.
    pub written: u64,
    /// Bytes read while the connection was in its handshake.
    pub handshake_read: u64,
    /// Bytes written while the connection was in its handshake.
    pub handshake_written: u64,
    /// Connections wrapped so far.
    pub connections: u64,
}

impl WireSnapshot {
    /// All bytes read, handshake included.
    pub fn total_read(&self) -> u64 {
        self.read + self.handshake_read
    }

    /// All bytes written, handshake included.
    pub fn total_written(&self) -> u64 {
        self.written + self.handshake_written
    }
}

impl WireStats {
    /// A fresh, shareable set of counters.
    pub fn new() -> Arc<WireStats> {
        Arc::new(WireStats::default())
    }

    /// Current totals (after refreshing every live [`WireProbe`]).
    pub fn snapshot(&self) -> WireSnapshot {
        let live: Vec<Arc<dyn WireProbe>> = {
            let mut probes = self.probes.0.lock().unwrap_or_else(PoisonError::into_inner);
            probes.retain(|p| p.strong_count() > 0);
            probes.iter().filter_map(Weak::upgrade).collect()
        };
        for probe in live {
            probe.refresh();
        }
        WireSnapshot {
            read: self.read.load(Relaxed),
            written: self.written.load(Relaxed),
            handshake_read: self.handshake_read.load(Relaxed),
            handshake_written: self.handshake_written.load(Relaxed),
            connections: self.connections.load(Relaxed),
        }
    }

    /// Adds bytes counted outside a [`CountingIo`] (by the kernel, for a socket a client
    /// library owns), as handshake or steady-state bytes.
    pub fn add(&self, handshake: bool, read: u64, written: u64) {
        let (r, w) = if handshake {
            (&self.handshake_read, &self.handshake_written)
        } else {
            (&self.read, &self.written)
        };
        r.fetch_add(read, Relaxed);
        w.fetch_add(written, Relaxed);
    }

    /// Counts one connection not wrapped in a [`CountingIo`].
    pub fn add_connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// Registers `probe` to be refreshed before every snapshot, for as long as it lives.
    pub fn register_probe(&self, probe: Weak<dyn WireProbe>) {
        let mut probes = self.probes.0.lock().unwrap_or_else(PoisonError::into_inner);
        probes.push(probe);
    }
}

/// Switches a connection from handshake to steady counting. Shareable, because with hyper or
/// axum the IO object disappears into the server and only a handle can reach it (for example
/// through connect info, or the upgrade callback).
#[derive(Debug, Clone)]
pub struct HandshakeFlag(Arc<AtomicBool>);

impl HandshakeFlag {
    /// Ends the handshake: bytes from now on count as steady state.
    pub fn end(&self) {
        self.0.store(false, Relaxed);
    }

    /// (Re)starts the handshake: a TLS session set up under a transport that has no handshake
    /// of its own still counts its set-up as handshake.
    pub(crate) fn start(&self) {
        self.0.store(true, Relaxed);
    }

    /// Whether the connection is still in its handshake.
    pub fn active(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// An `AsyncRead + AsyncWrite` that counts every byte into a [`WireStats`].
#[derive(Debug)]
pub struct CountingIo<T> {
    inner: T,
    stats: Arc<WireStats>,
    handshake: HandshakeFlag,
    /// Set for a subscriber of a consumer class that reads slowly, pauses or goes offline.
    gate: Option<Box<Gated>>,
    /// Set on a server socket during its TLS handshake: reads stop at record boundaries.
    align: Option<Box<Align>>,
}

impl<T> CountingIo<T> {
    /// Wraps `inner`, counting steady-state bytes from the first byte on.
    pub fn new(inner: T, stats: Arc<WireStats>) -> Self {
        Self::wrap(inner, stats, false)
    }

    /// Wraps `inner`, counting bytes as handshake until [`CountingIo::end_handshake`] (or the
    /// flag from [`CountingIo::handshake_flag`]) ends it.
    pub fn with_handshake(inner: T, stats: Arc<WireStats>) -> Self {
        Self::wrap(inner, stats, true)
    }

    fn wrap(inner: T, stats: Arc<WireStats>, handshake: bool) -> Self {
        stats.connections.fetch_add(1, Relaxed);
        let handshake = HandshakeFlag(Arc::new(AtomicBool::new(handshake)));
        CountingIo {
            inner,
            stats,
            handshake,
            gate: None,
            align: None,
        }
    }

    /// Wraps `inner`, counting into `stats` while the connection below it (whose `handshake`
    /// flag this shares) is in its handshake as handshake: the plaintext count above TLS.
    pub fn sharing(inner: T, stats: Arc<WireStats>, handshake: HandshakeFlag) -> Self {
        stats.connections.fetch_add(1, Relaxed);
        CountingIo {
            inner,
            stats,
            handshake,
            gate: None,
            align: None,
        }
    }

    /// Reads through `gate` (a consumer class's behaviour); `None` reads freely.
    pub fn gated(mut self, gate: Option<Arc<ReadGate>>) -> Self {
        self.gate = gate.map(|gate| {
            let opened_ns = clock::now_ns();
            gate.connected(opened_ns);
            Box::new(Gated::new(gate, opened_ns))
        });
        self
    }

    /// Reads record by record (`true`, for the server side of a TLS handshake under a pattern
    /// with no handshake of its own) until the client's Finished, then ends the handshake.
    pub(crate) fn align_records(&mut self, on: bool) {
        self.align = on.then(Box::default);
    }

    /// A handle that can end the handshake from elsewhere.
    pub fn handshake_flag(&self) -> HandshakeFlag {
        self.handshake.clone()
    }

    /// Ends the handshake: bytes from now on count as steady state.
    pub fn end_handshake(&self) {
        self.handshake.end();
    }

    /// The wrapped IO object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    fn count_read(&self, n: usize) {
        let c = if self.handshake.active() {
            &self.stats.handshake_read
        } else {
            &self.stats.read
        };
        c.fetch_add(n as u64, Relaxed);
    }

    fn count_written(&self, n: usize) {
        let c = if self.handshake.active() {
            &self.stats.handshake_written
        } else {
            &self.stats.written
        };
        c.fetch_add(n as u64, Relaxed);
    }
}

impl CountingIo<tokio::net::TcpStream> {
    /// Splits into owned read and write halves that keep counting into the same stats, with one
    /// shared handshake flag; lock-free, unlike a generic split.
    pub fn into_split(
        self,
    ) -> (
        CountingIo<tokio::net::tcp::OwnedReadHalf>,
        CountingIo<tokio::net::tcp::OwnedWriteHalf>,
    ) {
        let (r, w) = self.inner.into_split();
        // A publisher's cut must reach its writes too: it may write for long stretches
        // without reading.
        let write_gate = self
            .gate
            .as_ref()
            .and_then(|g| g.for_writes())
            .map(Box::new);
        let read = CountingIo {
            inner: r,
            stats: self.stats.clone(),
            handshake: self.handshake.clone(),
            gate: self.gate,
            align: None,
        };
        let write = CountingIo {
            inner: w,
            stats: self.stats,
            handshake: self.handshake,
            gate: write_gate,
            align: None,
        };
        (read, write)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.align.is_some() {
            return this.poll_aligned_read(cx, buf);
        }
        if this.gate.is_some() {
            return this.poll_gated_read(cx, buf);
        }
        this.poll_counted_read(cx, buf)
    }
}

impl<T: AsyncRead + Unpin> CountingIo<T> {
    fn poll_counted_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            self.count_read(buf.filled().len() - before);
        }
        res
    }

    /// A read that stops at the next TLS record boundary (see `wire_align.rs`).
    fn poll_aligned_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(mut align) = self.align.take() else {
            return self.poll_counted_read(cx, buf);
        };
        let limit = align.want().min(buf.remaining());
        let mut scratch = std::mem::take(&mut align.scratch);
        scratch.resize(limit, 0);
        let mut part = ReadBuf::new(&mut scratch);
        let res = self.poll_counted_read(cx, &mut part);
        buf.put_slice(part.filled());
        if align.consumed(part.filled()) {
            // The client's Finished is in: what follows is its application data.
            self.handshake.end();
            return res;
        }
        align.scratch = scratch;
        self.align = Some(align);
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.publisher_cut() {
            return Poll::Ready(Err(ReadGate::churn_error()));
        }
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.count_written(n);
        }
        res
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.publisher_cut() {
            return Poll::Ready(Err(ReadGate::churn_error()));
        }
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            this.count_written(n);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_directions_and_splits_handshake() {
        let (a, b) = tokio::io::duplex(1024);
        let stats = WireStats::new();
        let mut a = CountingIo::with_handshake(a, stats.clone());
        let mut b = b;
        a.write_all(b"hello").await.unwrap();
        a.end_handshake();
        a.write_all(b"0123456789").await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut got = [0u8; 3];
        a.read_exact(&mut got).await.unwrap();
        let s = stats.snapshot();
        assert_eq!(
            s,
            WireSnapshot {
                read: 3,
                written: 10,
                handshake_read: 0,
                handshake_written: 5,
                connections: 1
            }
        );
    }

    /// A churned publisher's cut reaches the write half of a split connection (it may
    /// never read), and a subscriber's gate leaves writes alone.
    #[tokio::test]
    async fn a_publisher_cut_fails_its_writes_once_split() {
        use crate::gate::GateBehaviour;
        use std::time::Duration;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = &listener;
        let write_after_cut = |gate: ReadGate| async move {
            let gate = Arc::new(gate.with_cuts(vec![Duration::ZERO]));
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _peer = listener.accept().await.unwrap();
            let io = CountingIo::new(stream, WireStats::new()).gated(Some(gate.clone()));
            // The window starts after the connection opened, so its cut at 0 breaks it.
            let now = clock::now_ns();
            gate.arm(now + 1, now + 10_000_000_000);
            let (_read, mut write) = io.into_split();
            (write.write_all(b"x").await, gate.cuts_done())
        };
        let (publisher, cuts) = write_after_cut(ReadGate::publisher()).await;
        let e = publisher.expect_err("the cut fails the write");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(cuts, 1);
        let (subscriber, _) = write_after_cut(ReadGate::new(GateBehaviour::Full)).await;
        subscriber.expect("a subscriber's cut is its reads'");
    }
}
