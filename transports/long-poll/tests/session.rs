//! Publisher sessions over real loopback sockets: a POST whose reply is lost is retried without
//! storing anything twice, and the raw API stores a repeated batch once.

mod common;
#[path = "common/http.rs"]
mod http;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::config;
use http::{frames, get, post, raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use transport_core::{ClientContext, Publisher, ServerContext, ServerHandle, Transport};
use transport_long_poll::codec::decode_batch;
use transport_long_poll::{Encoding, LongPoll, LongPollServer};
use transport_test_support::bounded;
use transport_test_support::traffic::{message, receive_all};

/// A proxy that forwards requests but, while armed, cuts the connection when a response
/// arrives instead of forwarding it: the server handled the request, the client never hears.
struct LossyProxy {
    addr: std::net::SocketAddr,
    /// Responses still to swallow.
    armed: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl LossyProxy {
    async fn start(upstream: std::net::SocketAddr) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let armed = Arc::new(AtomicUsize::new(0));
        let swallow = armed.clone();
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((down, _)) = listener.accept().await {
                let swallow = swallow.clone();
                conns.spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    let requests = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut down_r, &mut up_w).await;
                    });
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        let n = match up_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let take = swallow
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1));
                        if take.is_ok() || down_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    // Dropping both halves closes both sockets.
                    requests.abort();
                });
            }
        });
        LossyProxy {
            addr,
            armed,
            accept,
        }
    }

    /// Swallows the next `n` responses, cutting their connections.
    fn lose_responses(&self, n: usize) {
        self.armed.store(n, Ordering::SeqCst);
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn start() -> LongPollServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    LongPoll::serve(&config(), listener, ServerContext::fresh())
        .await
        .expect("serve")
}

/// The topic's head cursor: how many messages the server stored.
async fn head(server: &LongPollServer, topic: &str) -> u64 {
    let r = raw(server, &get(&format!("/topics/{topic}/head"))).await;
    assert_eq!(r.status, 200);
    decode_batch(Encoding::Binary, &Bytes::from(r.body))
        .expect("head reply")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_reply_is_lost_is_not_stored_twice() {
    let server = start().await;
    let proxy = LossyProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    let direct = server.local_addr().to_string();
    let mut sub = bounded(
        "subscribe",
        LongPoll::subscriber(&config(), &direct, "t", ctx.clone()),
    )
    .await
    .expect("subscribe");
    let mut publisher = bounded(
        "publisher",
        LongPoll::publisher(&config(), &proxy.addr.to_string(), "t", ctx.clone()),
    )
    .await
    .expect("publisher");
    for seq in 0..10 {
        publisher.publish(message(seq)).await.expect("publish");
    }
    bounded("flush", publisher.flush()).await.expect("flush");
    // The publisher is idle, so the next two responses are: the reply to a keep-alive POST
    // (no query), then the reply to the retry that names the session on a new connection.
    proxy.lose_responses(2);
    for seq in 10..30 {
        publisher.publish(message(seq)).await.expect("publish");
    }
    bounded("flush", publisher.flush())
        .await
        .expect("flush after lost replies");
    let received = receive_all(&mut sub, &(0..30).collect()).await;
    assert_eq!(proxy.armed.load(Ordering::SeqCst), 0, "both replies lost");
    assert!(ctx.counters.counter("publish_retries").get() >= 2);
    assert_eq!(head(&server, "t").await, 30, "every message stored once");
    assert_eq!(received, 30);
    bounded("close", publisher.close()).await.expect("close");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn a_repeated_batch_with_the_same_session_and_seq_is_accepted_once() {
    let server = start().await;
    let batch = frames(&[b"a", b"b", b"c"]);
    let binary = "application/octet-stream";
    for _ in 0..2 {
        let r = raw(
            &server,
            &post("/topics/s/messages?session=5&seq=0", binary, &batch),
        )
        .await;
        assert_eq!((r.status, r.body), (200, 3u64.to_be_bytes().to_vec()));
        assert!(r.head.contains("session-accepted: 3"), "{}", r.head);
    }
    assert_eq!(head(&server, "s").await, 3);
    // Overlapping what was accepted: only the new message is stored.
    let r = raw(
        &server,
        &post(
            "/topics/s/messages?session=5&seq=2",
            binary,
            &frames(&[b"c", b"d"]),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.head.contains("session-accepted: 4"), "{}", r.head);
    assert_eq!(head(&server, "s").await, 4);
    // Another session, and a publisher with none, are stored as they come.
    let r = raw(
        &server,
        &post(
            "/topics/s/messages?session=6&seq=0",
            binary,
            &frames(&[b"e"]),
        ),
    )
    .await;
    assert!(r.head.contains("session-accepted: 1"), "{}", r.head);
    let r = raw(
        &server,
        &post("/topics/s/messages", binary, &frames(&[b"f"])),
    )
    .await;
    assert_eq!((r.status, r.body), (200, 6u64.to_be_bytes().to_vec()));
    assert!(!r.head.contains("session-accepted"), "{}", r.head);
    // Half a session is a client bug.
    let r = raw(
        &server,
        &post("/topics/s/messages?session=5", binary, &frames(&[b"g"])),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(head(&server, "s").await, 6);
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn later_posts_on_a_named_connection_continue_the_session() {
    let server = start().await;
    let mut s = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let body = frames(&[b"x"]);
    let keep_alive = |path: &str| {
        let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    };
    let mut req = keep_alive("/topics/k/messages?session=9&seq=0");
    req.extend(keep_alive("/topics/k/messages"));
    s.write_all(&req).await.expect("write");
    // Two replies, the second with cursor 2; then the same first message again, named.
    let mut replies = Vec::new();
    let mut buf = [0u8; 4096];
    while !replies.ends_with(&2u64.to_be_bytes()) {
        let n = bounded("replies", s.read(&mut buf)).await.expect("read");
        assert!(n > 0, "server closed early");
        replies.extend_from_slice(&buf[..n]);
    }
    drop(s);
    let r = raw(
        &server,
        &post(
            "/topics/k/messages?session=9&seq=1",
            "application/octet-stream",
            &body,
        ),
    )
    .await;
    assert!(r.head.contains("session-accepted: 2"), "{}", r.head);
    assert_eq!(head(&server, "k").await, 2);
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
