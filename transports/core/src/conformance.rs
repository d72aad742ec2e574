//! A conformance kit every transport runs against itself over real loopback sockets.
//!
//! Each check starts the transport's server on `127.0.0.1:0`, drives real clients through the
//! [`Transport`] trait and panics with a clear message when the contract is broken. Every wait is
//! bounded, so a broken transport fails the test instead of hanging it. Use from a transport's
//! tests:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn conformance() {
//!     transport_core::conformance::run_all::<MyTransport>(MyConfig::default()).await;
//! }
//! ```

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::envelope::{Envelope, HEADER_LEN};
use crate::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport, WireSnapshot,
};

mod loss;
mod proxy;
pub use loss::{LossReport, counts_loss_after_cut};
mod setup;
pub use proxy::CutProxy;
pub use setup::{Setup, plaintext_client_is_refused};

/// The bound on any single wait inside the kit.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a delivery check observed, for transport-specific assertions on top.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// Client-side bytes of all clients in the check.
    pub client: WireSnapshot,
    /// Server-side bytes.
    pub server: WireSnapshot,
    /// Under TLS, client-side bytes above TLS (what the pattern wrote and read).
    pub client_plaintext: Option<WireSnapshot>,
    /// Under TLS, server-side bytes above TLS.
    pub server_plaintext: Option<WireSnapshot>,
    /// Messages received per subscriber, in arrival order (sequence numbers).
    pub received: Vec<Vec<u64>>,
    /// Delivery units (calls to `recv`) per subscriber, empty units included.
    pub units: Vec<usize>,
    /// Payload bytes of one message.
    pub payload_len: usize,
}

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(STEP_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("conformance: {what} did not finish within {STEP_TIMEOUT:?}"),
    }
}

/// Starts `T`'s server on a fresh loopback port.
pub async fn start<T: Transport>(config: &T::Config, ctx: ServerContext) -> T::Server {
    let listener = bounded("bind", TcpListener::bind("127.0.0.1:0"))
        .await
        .expect("bind 127.0.0.1:0");
    bounded("serve", T::serve(config, listener, ctx))
        .await
        .expect("server starts")
}

/// Receives until `subscriber` has `count` messages or the step timeout passes.
async fn receive_seqs<S: Subscriber>(sub: &mut S, count: usize) -> (Vec<u64>, usize) {
    let mut seqs = Vec::with_capacity(count);
    let mut units = 0;
    let mut buf = Vec::new();
    while seqs.len() < count {
        buf.clear();
        bounded("recv", sub.recv(&mut buf))
            .await
            .expect("recv succeeds");
        units += 1;
        for m in &buf {
            let e = Envelope::decode(m).expect("message arrives with its envelope intact");
            seqs.push(e.seq);
        }
    }
    (seqs, units)
}

/// A message as the harness would send it: an envelope from publisher 0 with `seq` (also used
/// as its timestamps), `payload_len` bytes in all. Transport tests build theirs with it.
pub fn message(seq: u64, payload_len: usize) -> Bytes {
    Envelope {
        publisher: 0,
        seq,
        intended_ns: seq,
        sent_ns: seq,
    }
    .encode(payload_len)
}

/// Publishes messages `0..n`: the first half one `publish` each, the rest through
/// `publish_batch` in batches of growing size cut from one buffer, as the harness stamps them.
async fn publish_both_ways<P: Publisher>(publisher: &mut P, n: u64, payload_len: usize) {
    let mut seq = 0;
    while seq < n / 2 {
        bounded("publish", publisher.publish(message(seq, payload_len)))
            .await
            .expect("publish");
        seq += 1;
    }
    let mut size = 1;
    while seq < n {
        let mut batch = Vec::new();
        let first = Envelope {
            publisher: 0,
            seq,
            intended_ns: seq,
            sent_ns: seq,
        };
        first.encode_batch((n - seq).min(size) as usize, payload_len, &mut batch);
        let mut accepted = 0;
        bounded(
            "publish batch",
            publisher.publish_batch(&batch, &mut accepted),
        )
        .await
        .expect("publish batch");
        assert_eq!(
            accepted,
            batch.len(),
            "a batch that succeeds is accepted whole"
        );
        seq += batch.len() as u64;
        size *= 2;
    }
}

/// One publisher sends `n` messages of `payload_len` bytes; `subscribers` subscribers must each
/// receive all of them exactly once and in order, and the wire must carry at least the payload.
pub async fn delivers_in_order<T: Transport>(
    config: T::Config,
    subscribers: usize,
    n: u64,
    payload_len: usize,
) -> DeliveryReport {
    delivers_in_order_with::<T>(&Setup::plain(), config, subscribers, n, payload_len).await
}

/// [`delivers_in_order`] with the contexts `setup` makes (plaintext or TLS).
pub async fn delivers_in_order_with<T: Transport>(
    setup: &Setup,
    config: T::Config,
    subscribers: usize,
    n: u64,
    payload_len: usize,
) -> DeliveryReport {
    let server_ctx = setup.server();
    let server = start::<T>(&config, server_ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let client_ctx = setup.client(0);
    // Subscribers first: a message published before a subscription exists need not reach it.
    let subs = subscribe_all::<T>(&config, &addr, &client_ctx, subscribers).await;
    let mut publisher = bounded(
        "connect publisher",
        T::publisher(&config, &addr, "conformance", client_ctx.clone()),
    )
    .await
    .expect("publisher connects");
    let (received, units) = publish_and_receive::<T>(&mut publisher, subs, n, payload_len).await;
    bounded("publisher close", publisher.close())
        .await
        .expect("publisher closes");
    bounded("server shutdown", server.shutdown())
        .await
        .expect("server shuts down");

    let expected: Vec<u64> = (0..n).collect();
    for (i, seqs) in received.iter().enumerate() {
        assert_eq!(
            seqs, &expected,
            "subscriber {i} must receive every message once, in order"
        );
    }
    let report = DeliveryReport {
        client: client_ctx.wire.snapshot(),
        server: server_ctx.wire.snapshot(),
        client_plaintext: client_ctx.tls.as_ref().map(|t| t.plaintext.snapshot()),
        server_plaintext: server_ctx.tls.as_ref().map(|t| t.plaintext.snapshot()),
        received,
        units,
        payload_len: payload_len.max(HEADER_LEN),
    };
    assert_wire_carries_payload(&report, n, counts_server_bytes::<T>());
    setup::assert_tls_adds_bytes(&report);
    report
}

/// Subscribes `count` clients of `ctx` to the conformance topic, numbered from 0.
async fn subscribe_all<T: Transport>(
    config: &T::Config,
    addr: &str,
    ctx: &ClientContext,
    count: usize,
) -> Vec<T::Subscriber> {
    let mut subs = Vec::with_capacity(count);
    for i in 0..count {
        let ctx = ClientContext {
            client_index: i as u32,
            ..ctx.clone()
        };
        let sub = bounded("subscribe", T::subscriber(config, addr, "conformance", ctx));
        subs.push(sub.await.expect("subscribe"));
    }
    subs
}

/// Publishes `n` messages and flushes while each subscriber receives them on a task of its own,
/// then closes the subscribers. Returns each one's sequence numbers and delivery units.
async fn publish_and_receive<T: Transport>(
    publisher: &mut T::Publisher,
    subs: Vec<T::Subscriber>,
    n: u64,
    payload_len: usize,
) -> (Vec<Vec<u64>>, Vec<usize>) {
    let mut receivers = JoinSet::new();
    for (i, mut sub) in subs.into_iter().enumerate() {
        receivers.spawn(async move {
            let got = receive_seqs(&mut sub, n as usize).await;
            bounded("subscriber close", sub.close())
                .await
                .expect("subscriber closes");
            (i, got)
        });
    }
    publish_both_ways(publisher, n, payload_len).await;
    bounded("flush", publisher.flush()).await.expect("flush");
    let mut received = vec![Vec::new(); receivers.len()];
    let mut units = vec![0; receivers.len()];
    while let Some(done) = bounded("receivers", receivers.join_next()).await {
        let (i, (seqs, u)) = done.expect("receiver task");
        received[i] = seqs;
        units[i] = u;
    }
    (received, units)
}

/// Whether `T`'s server sockets are ours to count: not for a program we did not write.
fn counts_server_bytes<T: Transport>() -> bool {
    T::server_kinds().contains(&crate::ServerKind::InProcess)
}

/// Every side of the check moved at least the payload of `n` messages as steady-state bytes
/// (the server's side when it is ours to count), and the clients' connection setup was counted
/// as handshake.
fn assert_wire_carries_payload(report: &DeliveryReport, n: u64, server_counted: bool) {
    let DeliveryReport { client, server, .. } = report;
    let payload_total = n * report.payload_len as u64;
    assert!(
        client.written >= payload_total,
        "publisher wrote fewer steady-state bytes than the payload (is the handshake ended?): {client:?}"
    );
    assert!(
        client.read >= payload_total * report.received.len() as u64,
        "subscribers read fewer steady-state bytes than the payload: {client:?}"
    );
    assert!(
        !server_counted || server.read >= payload_total,
        "server read fewer steady-state bytes than the payload: {server:?}"
    );
    assert!(
        client.handshake_read + client.handshake_written > 0,
        "connection setup must be reported as handshake bytes: {client:?}"
    );
}

/// A server with a subscriber parked on `recv` must shut down within the step timeout.
pub async fn shuts_down_with_parked_subscriber<T: Transport>(config: T::Config) {
    shuts_down_with_parked_subscriber_with::<T>(&Setup::plain(), config).await;
}

/// [`shuts_down_with_parked_subscriber`] with the contexts `setup` makes.
pub async fn shuts_down_with_parked_subscriber_with<T: Transport>(
    setup: &Setup,
    config: T::Config,
) {
    let server = start::<T>(&config, setup.server()).await;
    let addr = server.local_addr().to_string();
    let mut sub = bounded(
        "subscribe",
        T::subscriber(&config, &addr, "idle", setup.client(0)),
    )
    .await
    .expect("subscribe");
    let parked = tokio::spawn(async move {
        let mut buf = Vec::new();
        // The outcome after shutdown is transport-specific (closed, or reconnect attempts); the
        // contract is only that the server does not wait for it.
        let _ = tokio::time::timeout(STEP_TIMEOUT, sub.recv(&mut buf)).await;
    });
    tokio::task::yield_now().await;
    bounded("shutdown with a parked subscriber", server.shutdown())
        .await
        .expect("shutdown");
    parked.abort();
}

/// Garbage on a fresh connection must not take the server down: a normal client is served
/// afterwards.
pub async fn survives_garbage<T: Transport>(config: T::Config) {
    survives_garbage_with::<T>(&Setup::plain(), config).await;
}

/// [`survives_garbage`] with the contexts `setup` makes: under TLS the garbage is what a
/// plaintext peer sends a TLS server, and must cost only that peer its connection.
pub async fn survives_garbage_with<T: Transport>(setup: &Setup, config: T::Config) {
    let server = start::<T>(&config, setup.server()).await;
    let addr = server.local_addr().to_string();
    let garbage: [&[u8]; 3] = [
        b"\xff\xff\xff\xff\x00\x01garbage",
        b"GET /../../etc/passwd HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        &[0x7f; 64],
    ];
    for bytes in garbage {
        let mut s = bounded("connect", TcpStream::connect(&addr))
            .await
            .expect("connect");
        let _ = bounded("write garbage", s.write_all(bytes)).await;
        let _ = bounded("shutdown write", s.shutdown()).await;
        drop(s);
    }
    let ctx = setup.client(0);
    let mut sub = bounded(
        "subscribe",
        T::subscriber(&config, &addr, "after-garbage", ctx.clone()),
    )
    .await
    .expect("subscribe after garbage");
    let mut publisher = bounded(
        "publisher",
        T::publisher(&config, &addr, "after-garbage", ctx),
    )
    .await
    .expect("publisher after garbage");
    bounded("publish", publisher.publish(message(0, 64)))
        .await
        .expect("publish after garbage");
    bounded("flush", publisher.flush())
        .await
        .expect("flush after garbage");
    let (seqs, _) = receive_seqs(&mut sub, 1).await;
    assert_eq!(
        seqs,
        vec![0],
        "server must keep serving after malformed input"
    );
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// For transports that resume: cutting every connection in the middle of a stream loses
/// nothing. Returns how many duplicates the subscriber saw (allowed, but reported).
pub async fn resumes_after_cut<T: Transport>(config: T::Config, n: u64) -> usize {
    resumes_after_cut_with::<T>(&Setup::plain(), config, n).await
}

/// [`resumes_after_cut`] with the contexts `setup` makes (under TLS each reconnect pays a new
/// TLS handshake).
pub async fn resumes_after_cut_with<T: Transport>(
    setup: &Setup,
    config: T::Config,
    n: u64,
) -> usize {
    assert!(
        T::capabilities().resumes,
        "{} does not claim to resume",
        T::NAME
    );
    let server = start::<T>(&config, setup.server()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let addr = proxy.addr().to_string();
    let ctx = setup.client(0);
    let mut sub = bounded(
        "subscribe",
        T::subscriber(&config, &addr, "resume", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let mut publisher = bounded(
        "publisher",
        T::publisher(&config, &server.local_addr().to_string(), "resume", ctx),
    )
    .await
    .expect("publisher");
    let half = n / 2;
    for seq in 0..half {
        bounded("publish", publisher.publish(message(seq, 64)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let (mut seqs, _) = receive_seqs(&mut sub, half as usize).await;
    proxy.cut_all();
    for seq in half..n {
        bounded("publish", publisher.publish(message(seq, 64)))
            .await
            .expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    let mut buf = Vec::new();
    let mut unique: std::collections::BTreeSet<u64> = seqs.iter().copied().collect();
    while unique.len() < n as usize {
        buf.clear();
        bounded("recv after cut", sub.recv(&mut buf))
            .await
            .expect("recv after cut resumes");
        for m in &buf {
            let seq = Envelope::decode(m).expect("envelope").seq;
            seqs.push(seq);
            unique.insert(seq);
        }
    }
    assert_eq!(
        unique,
        (0..n).collect(),
        "every message must arrive after a reconnect"
    );
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
    seqs.len() - unique.len()
}

/// Subscribers given different loopback sources in their context connect from those sources.
/// The runner spreads very many subscribers over 127.0.0.2, 127.0.0.3, … so that no single
/// source/destination pair runs out of ephemeral ports (~28K); a transport that dials from the
/// kernel's default source silently caps a run at that many subscribers per host. A relay in
/// front of the server records where each connection came from; each subscriber then receives
/// one message, so the connections from those sources are the ones that carry the stream.
pub async fn subscribers_connect_from_their_source<T: Transport>(config: T::Config) {
    subscribers_connect_from_their_source_with::<T>(&Setup::plain(), config).await;
}

/// [`subscribers_connect_from_their_source`] with the contexts `setup` makes.
pub async fn subscribers_connect_from_their_source_with<T: Transport>(
    setup: &Setup,
    config: T::Config,
) {
    let server = start::<T>(&config, setup.server()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let addr = proxy.addr().to_string();
    let sources: Vec<IpAddr> = (2..5).map(|last| IpAddr::from([127, 0, 0, last])).collect();
    let mut subs = Vec::new();
    for (i, &source) in sources.iter().enumerate() {
        let ctx = ClientContext {
            source: Some(source),
            ..setup.client(i as u32)
        };
        let sub = bounded("subscribe", T::subscriber(&config, &addr, "spread", ctx)).await;
        subs.push(sub.expect("subscribe from a loopback source"));
    }
    let peers = proxy.peers();
    for source in &sources {
        assert!(
            peers.contains(source),
            "a subscriber given source {source} must connect from it; the server saw {peers:?}"
        );
    }
    let mut publisher = bounded(
        "publisher",
        T::publisher(&config, &addr, "spread", setup.client(9)),
    )
    .await
    .expect("publisher");
    bounded("publish", publisher.publish(message(0, 64)))
        .await
        .expect("publish");
    bounded("flush", publisher.flush()).await.expect("flush");
    for sub in &mut subs {
        let (seqs, _) = receive_seqs(sub, 1).await;
        assert_eq!(seqs, vec![0], "a subscriber on a spread source is served");
    }
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Runs every check that applies to `T`, over plaintext.
pub async fn run_all<T: Transport>(config: T::Config) {
    run_all_with::<T>(&Setup::plain(), config).await;
}

/// Runs every check that applies to `T` with the contexts `setup` makes; under TLS also that a
/// plaintext client is refused while TLS clients go on being served.
pub async fn run_all_with<T: Transport>(setup: &Setup, config: T::Config) {
    delivers_in_order_with::<T>(setup, config.clone(), 1, 200, 100).await;
    delivers_in_order_with::<T>(setup, config.clone(), 3, 50, 1024).await;
    shuts_down_with_parked_subscriber_with::<T>(setup, config.clone()).await;
    survives_garbage_with::<T>(setup, config.clone()).await;
    subscribers_connect_from_their_source_with::<T>(setup, config.clone()).await;
    if setup.is_tls() {
        plaintext_client_is_refused::<T>(setup, config.clone()).await;
    }
    if T::capabilities().resumes {
        resumes_after_cut_with::<T>(setup, config, 100).await;
    } else {
        counts_loss_after_cut::<T>(config, 50, 5).await;
    }
}
