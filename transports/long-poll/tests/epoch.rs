//! Server epochs over real loopback sockets: a subscriber whose server restarted (memory
//! storage, log begins again at 0) and has already published *past* the subscriber's old
//! cursor still notices the restart, reads the new log from its start, and counts the reset.
//!
//! Without the epoch the subscriber would resume in the middle of the new log and skip its
//! first messages. The first test checks the HTTP side with raw requests. The last test shows why `epoch_check = "per-poll"` exists: behind a proxy
//! that keeps the client's connection and reconnects upstream by itself, only a per-poll check
//! sees the restart.

mod common;
#[path = "common/http.rs"]
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use common::config;
use http::{frames, get, post, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
};
use transport_long_poll::codec::{self, decode_batch};
use transport_long_poll::{
    ConnectionMode, Encoding, EpochCheck, LongPoll, LongPollConfig, LongPollServer,
    LongPollSubscriber,
};
use transport_test_support::bounded;
use transport_test_support::traffic::{message, next_seqs, receive_all};

/// Old log: 20 messages. The restarted server publishes 30 before the subscriber comes back,
/// so its head (30) is past the subscriber's cursor (20).
const OLD: u64 = 20;
const NEW: u64 = 30;

async fn serve(config: &LongPollConfig, listener: TcpListener) -> LongPollServer {
    LongPoll::serve(config, listener, ServerContext::fresh())
        .await
        .expect("serve")
}

/// The `server-epoch` header's value in a reply head, if present.
fn epoch_header(head: &str) -> Option<u64> {
    head.lines()
        .find_map(|l| l.strip_prefix("server-epoch: "))
        .map(|v| v.trim().parse().expect("decimal epoch"))
}

#[tokio::test]
async fn epoch_in_head_replies_and_foreign_epochs_get_410() {
    let ctx = ServerContext::fresh();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = LongPoll::serve(&LongPollConfig::default(), listener, ctx.clone())
        .await
        .expect("serve");
    let r = raw(&server, &get("/topics/e/head")).await;
    let epoch = epoch_header(&r.head).expect("head reply carries the epoch");
    assert!(epoch != 0 && epoch < 1 << 53, "{epoch}");
    let r = raw(
        &server,
        &post(
            "/topics/e/messages",
            "application/octet-stream",
            &frames(&[b"a", b"b"]),
        ),
    )
    .await;
    assert_eq!(
        epoch_header(&r.head),
        None,
        "only head and reset replies carry it"
    );

    // This server's epoch: an ordinary poll, no epoch header in the reply.
    let r = raw(
        &server,
        &get(&format!("/topics/e/poll?cursor=1&epoch={epoch}")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(epoch_header(&r.head), None);
    let (next, msgs) = decode_batch(Encoding::Binary, &Bytes::from(r.body)).expect("batch");
    assert_eq!((next, msgs), (2, vec![Bytes::from("b")]));

    // Another epoch: the cursor is from an earlier incarnation, even though it is in range.
    let other = if epoch == 1 { 2 } else { 1 };
    let r = raw(
        &server,
        &get(&format!("/topics/e/poll?cursor=1&epoch={other}")),
    )
    .await;
    assert_eq!(r.status, 410, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(epoch_header(&r.head), Some(epoch));
    assert_eq!(
        codec::decode_error(&r.body).1,
        Some(0),
        "resume from the earliest cursor"
    );
    // A malformed epoch is a 400 like any bad query.
    let r = raw(&server, &get("/topics/e/poll?cursor=1&epoch=x")).await;
    assert_eq!(r.status, 400);
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["server_epoch_resets"], 1, "{counters:?}");
    server.shutdown().await.expect("shutdown");
}

/// Publishes `OLD` messages to a first server and reads them all at `sub_addr`, then restarts
/// the server on the same port and publishes `NEW` more (seqs `OLD..OLD + NEW`) to it before
/// the subscriber polls again. Returns the new server, the subscriber and its first epoch.
async fn restart_after_a_head_start(
    config: &LongPollConfig,
    listener: TcpListener,
    sub_addr: impl FnOnce(SocketAddr) -> SocketAddr,
    ctx: &ClientContext,
) -> (LongPollServer, LongPollSubscriber, u64) {
    let addr = listener.local_addr().expect("addr");
    let server = serve(config, listener).await;
    let text = addr.to_string();
    let sub_text = sub_addr(addr).to_string();
    let mut sub = bounded(
        "subscribe",
        LongPoll::subscriber(config, &sub_text, "t", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let old_epoch = sub.epoch().expect("the head reply carries the epoch");
    let mut publisher = bounded(
        "publisher",
        LongPoll::publisher(config, &text, "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    for seq in 0..OLD {
        publisher.publish(message(seq)).await.expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    receive_all(&mut sub, &(0..OLD).collect()).await;
    assert_eq!(sub.cursor(), OLD);

    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let server = serve(config, listener).await;
    for seq in OLD..OLD + NEW {
        publisher
            .publish(message(seq))
            .await
            .expect("publish to the new server");
    }
    bounded("flush", publisher.flush())
        .await
        .expect("flush to the new server");
    bounded("close", publisher.close()).await.expect("close");
    (server, sub, old_epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_past_the_old_cursor_is_read_from_its_start() {
    let modes = [
        (ConnectionMode::KeepAlive, EpochCheck::PerConnection),
        (ConnectionMode::PerRequest, EpochCheck::PerConnection),
        (ConnectionMode::KeepAlive, EpochCheck::PerPoll),
    ];
    for (connection, epoch_check) in modes {
        let config = LongPollConfig {
            connection,
            epoch_check,
            ..config()
        };
        let ctx = ClientContext::fresh(0);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (server, mut sub, old_epoch) =
            restart_after_a_head_start(&config, listener, |a| a, &ctx).await;
        let mode = format!("{connection:?}/{epoch_check:?}");

        // Every message of the new server, from its first, exactly once.
        let total = receive_all(&mut sub, &(OLD..OLD + NEW).collect()).await;
        assert_eq!(total, NEW as usize, "{mode}: no duplicates");
        assert_eq!(sub.cursor(), NEW, "{mode}: cursor follows the new log");
        assert_ne!(sub.epoch(), Some(old_epoch), "{mode}: new epoch adopted");
        let counters = ctx.counters.counter_values();
        assert_eq!(counters["cursor_resets"], 1, "{mode}: {counters:?}");
        assert_eq!(counters["gap_messages"], 0, "{mode}: {counters:?}");
        bounded("close", sub.close()).await.expect("close");
        bounded("shutdown", server.shutdown())
            .await
            .expect("shutdown");
    }
}

/// A TCP relay that, like an HTTP proxy pooling its upstream connections, keeps the client's
/// connection when the upstream one closes and opens a new upstream connection for the next
/// request. `closed` counts upstream connections that ended.
async fn sticky_proxy(upstream: SocketAddr) -> (SocketAddr, watch::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let (closed_tx, closed) = watch::channel(0usize);
    let closed_tx = Arc::new(closed_tx);
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let (mut down_r, down_w) = down.into_split();
                let down_w = Arc::new(Mutex::new(down_w));
                // The upstream write half, and whether that upstream connection has ended.
                let mut up: Option<(OwnedWriteHalf, Arc<AtomicBool>)> = None;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match down_r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if up
                        .as_ref()
                        .is_none_or(|(_, ended)| ended.load(Ordering::SeqCst))
                    {
                        let Ok(stream) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (mut up_r, up_w) = stream.into_split();
                        let (down_w, closed_tx) = (down_w.clone(), closed_tx.clone());
                        let ended = Arc::new(AtomicBool::new(false));
                        let flag = ended.clone();
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 64 * 1024];
                            while let Ok(n @ 1..) = up_r.read(&mut buf).await {
                                if down_w.lock().await.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            // Marked before it is counted, so a request sent after the test
                            // saw the count goes to a new upstream connection.
                            flag.store(true, Ordering::SeqCst);
                            closed_tx.send_modify(|c| *c += 1);
                        });
                        up = Some((up_w, ended));
                    }
                    if let Some((w, _)) = up.as_mut()
                        && w.write_all(&buf[..n]).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_pooling_proxy_only_a_per_poll_check_sees_the_restart() {
    for epoch_check in [EpochCheck::PerPoll, EpochCheck::PerConnection] {
        let config = LongPollConfig {
            epoch_check,
            ..config()
        };
        let ctx = ClientContext::fresh(0);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = listener.local_addr().expect("addr");
        let (proxy, mut closed) = sticky_proxy(upstream).await;
        let (server, mut sub, _) =
            restart_after_a_head_start(&config, listener, |_| proxy, &ctx).await;
        // The old server closed the proxy's upstream connection; the client's stays open.
        bounded("upstream closed", closed.wait_for(|c| *c >= 1))
            .await
            .expect("proxy alive");
        match epoch_check {
            EpochCheck::PerPoll => {
                let total = receive_all(&mut sub, &(OLD..OLD + NEW).collect()).await;
                assert_eq!(total, NEW as usize);
                assert_eq!(ctx.counters.counter("cursor_resets").get(), 1);
            }
            EpochCheck::PerConnection => {
                // The documented limit: the same client connection, no epoch sent, and the
                // new log has passed the cursor, so its first `OLD` messages are skipped.
                let first = next_seqs(&mut sub).await;
                assert_eq!(first.first(), Some(&(2 * OLD)), "{first:?}");
                assert_eq!(ctx.counters.counter("cursor_resets").get(), 0);
            }
        }
        assert_eq!(
            ctx.counters.counter("poll_errors").get(),
            0,
            "no break seen"
        );
        bounded("close", sub.close()).await.expect("close");
        bounded("shutdown", server.shutdown())
            .await
            .expect("shutdown");
    }
}
