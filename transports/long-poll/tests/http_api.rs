//! The HTTP API over real sockets: cursor semantics, errors for malformed and oversized
//! requests, 410 surfacing as lost messages, header accounting, and prompt shutdown.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_core::envelope::Envelope;
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
};
use transport_long_poll::codec::decode_batch;
use transport_long_poll::{Encoding, HeaderProfile, LongPoll, LongPollConfig, LongPollServer};

#[path = "common/http.rs"]
mod http;

use http::{frames, get, post, raw};
use transport_test_support::traffic::message;
use transport_test_support::{BOUND, bounded};

async fn start(config: &LongPollConfig, ctx: ServerContext) -> LongPollServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    LongPoll::serve(config, listener, ctx)
        .await
        .expect("server starts")
}

#[tokio::test]
async fn cursor_semantics_over_http() {
    let server = start(&LongPollConfig::default(), ServerContext::fresh()).await;
    let r = raw(&server, &get("/topics/c/head")).await;
    assert_eq!((r.status, r.body), (200, 0u64.to_be_bytes().to_vec()));

    let r = raw(
        &server,
        &post(
            "/topics/c/messages",
            "application/octet-stream",
            &frames(&[b"a", b"b", b"c"]),
        ),
    )
    .await;
    assert_eq!((r.status, r.body), (200, 3u64.to_be_bytes().to_vec()));

    let r = raw(&server, &get("/topics/c/poll?cursor=0&max=2")).await;
    assert_eq!(r.status, 200);
    assert!(r.head.contains("cache-control: no-store"), "{}", r.head);
    let (next, msgs) = decode_batch(Encoding::Binary, &Bytes::from(r.body)).unwrap();
    assert_eq!((next, msgs), (2, vec![Bytes::from("a"), Bytes::from("b")]));

    let r = raw(&server, &get("/topics/c/poll?cursor=2")).await;
    let (next, msgs) = decode_batch(Encoding::Binary, &Bytes::from(r.body)).unwrap();
    assert_eq!((next, msgs), (3, vec![Bytes::from("c")]));

    // At the head with no hold: empty at once, 204 without a body.
    let r = raw(&server, &get("/topics/c/poll?cursor=3&timeout_ms=0")).await;
    assert_eq!((r.status, r.body.len()), (204, 0));

    // JSON on request, for the same topic.
    let json = br#"{"messages":["ZA=="]}"#;
    let r = raw(
        &server,
        &post("/topics/c/messages", "application/json", json),
    )
    .await;
    assert_eq!((r.status, r.body), (200, 4u64.to_be_bytes().to_vec()));
    let mut req = get("/topics/c/poll?cursor=3");
    req.splice(
        req.len() - 2..req.len() - 2,
        b"Accept: application/json\r\n".iter().copied(),
    );
    let r = raw(&server, &req).await;
    assert_eq!(r.body, br#"{"next_cursor":4,"messages":["ZA=="]}"#);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_requests_get_400_with_a_message() {
    let ctx = ServerContext::fresh();
    let server = start(&LongPollConfig::default(), ctx.clone()).await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (get("/topics/t/poll"), 400, "cursor"),
        (get("/topics/t/poll?cursor=abc"), 400, "cursor"),
        (get("/topics/t/poll?cursor=-1"), 400, "cursor"),
        (
            get("/topics/t/poll?cursor=7&timeout_ms=0"),
            400,
            "beyond the head",
        ),
        (get("/topics/t/poll?cursor=0&max=0"), 400, "max"),
        (
            get("/topics/t/poll?cursor=0&timeout_ms=99999999"),
            400,
            "timeout_ms",
        ),
        (get("/topics/bad%20name/poll?cursor=0"), 400, "topic names"),
        (
            post(
                "/topics/t/messages",
                "application/octet-stream",
                &[0, 0, 0, 9, 1],
            ),
            400,
            "claims",
        ),
        (
            post("/topics/t/messages", "application/octet-stream", b""),
            400,
            "at least one",
        ),
        (
            post(
                "/topics/t/messages",
                "application/json",
                b"{\"messages\":[1]}",
            ),
            400,
            "messages",
        ),
        (
            post(
                "/topics/t/messages",
                "application/json",
                b"{\"messages\":[\"!!\"]}",
            ),
            400,
            "base64",
        ),
        (
            post("/topics/t/messages", "text/plain", b"hi"),
            415,
            "Content-Type",
        ),
        (get("/nope"), 404, "no such route"),
    ];
    for (req, status, needle) in cases {
        let r = raw(&server, &req).await;
        let body = String::from_utf8_lossy(&r.body);
        assert_eq!(
            r.status,
            status,
            "{}: {body}",
            String::from_utf8_lossy(&req)
        );
        assert!(body.contains(needle), "{needle:?} not in {body}");
        assert!(body.starts_with("{\"error\":"), "{body}");
    }
    // Garbage that is not HTTP at all gets hyper's 400 or a close; the server keeps serving.
    let _ = raw(&server, b"\x00\x01garbage\r\n\r\n").await;
    let r = raw(&server, &get("/topics/t/head")).await;
    assert_eq!(r.status, 200);
    assert!(ctx.counters.counter_values()["server_rejected_requests"] >= 11);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let config = LongPollConfig {
        max_body_bytes: 1024,
        ..LongPollConfig::default()
    };
    let server = start(&config, ServerContext::fresh()).await;
    let big = frames(&[&[7u8; 2000]]);
    // Declared by Content-Length.
    let r = raw(
        &server,
        &post("/topics/t/messages", "application/octet-stream", &big),
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("error"));
    // Chunked, so the size is only known while reading.
    let mut chunked = b"POST /topics/t/messages HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", big.len()).as_bytes());
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = raw(&server, &chunked).await;
    assert_eq!(r.status, 413);
    // Just under the limit is fine.
    let ok = frames(&[&[7u8; 1000]]);
    let r = raw(
        &server,
        &post("/topics/t/messages", "application/octet-stream", &ok),
    )
    .await;
    assert_eq!(r.status, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_cursor_shows_up_as_lost_messages() {
    let config = LongPollConfig {
        retention_messages: 5,
        ..LongPollConfig::default()
    };
    let server = start(&config, ServerContext::fresh()).await;
    let addr = server.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        LongPoll::subscriber(&config, &addr, "g", ctx.clone()),
    )
    .await
    .unwrap();
    let mut publisher = bounded(
        "publisher",
        LongPoll::publisher(&config, &addr, "g", ctx.clone()),
    )
    .await
    .unwrap();
    // The subscriber is not polling while 20 messages arrive; retention keeps the last 5.
    for seq in 0..20 {
        bounded("publish", publisher.publish(message(seq)))
            .await
            .unwrap();
    }
    bounded("flush", publisher.flush()).await.unwrap();
    let mut out = Vec::new();
    let n = bounded("recv", sub.recv(&mut out)).await.unwrap();
    let seqs: Vec<u64> = out
        .iter()
        .map(|m| Envelope::decode(m).unwrap().seq)
        .collect();
    assert_eq!(n, 5);
    assert_eq!(
        seqs,
        (15..20).collect::<Vec<_>>(),
        "0..15 are missing: the audit's lost"
    );
    assert_eq!(ctx.counters.counter_values()["gap_messages"], 15);
    assert_eq!(sub.cursor(), 20);
    publisher.close().await.unwrap();
    sub.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_parked_polls_is_prompt() {
    // The default 30 s hold: shutdown must not wait for it. Few reconnect attempts, so the
    // clients give up on the vanished server well within the bound.
    let config = LongPollConfig {
        reconnect_max_attempts: 5,
        ..LongPollConfig::default()
    };
    let ctx = ServerContext::fresh();
    let server = start(&config, ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let mut parked = tokio::task::JoinSet::new();
    for i in 0..20 {
        let mut sub = bounded(
            "subscribe",
            LongPoll::subscriber(&config, &addr, "idle", ClientContext::fresh(i)),
        )
        .await
        .unwrap();
        parked.spawn(async move {
            let mut out = Vec::new();
            // After shutdown the client retries, finds the server gone and gives up.
            tokio::time::timeout(BOUND, sub.recv(&mut out)).await
        });
    }
    // A raw parked poll, to see what it is answered with.
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(&get("/topics/idle/poll?cursor=0"))
        .await
        .unwrap();
    // Readiness without sleeping: the server counts a poll just before parking it.
    let polls = ctx.counters.counter("server_polls");
    bounded("the poll parks", async {
        while polls.get() < 21 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let started = Instant::now();
    bounded("shutdown", server.shutdown()).await.unwrap();
    // Not the 30 s hold: a third of it leaves room for a loaded machine and still tells the
    // two apart.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let mut buf = Vec::new();
    bounded("read reply", s.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(
        buf.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    while let Some(done) = parked.join_next().await {
        let recv = done.unwrap().expect("recv ends once the server is gone");
        assert!(recv.is_err(), "no messages were published: {recv:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_bytes_are_counted_per_profile() {
    let mut per_poll = Vec::new();
    for headers in [HeaderProfile::Minimal, HeaderProfile::Browser] {
        let config = LongPollConfig {
            headers,
            hold_timeout: Duration::from_millis(1),
            ..LongPollConfig::default()
        };
        let server = start(&config, ServerContext::fresh()).await;
        let addr = server.local_addr().to_string();
        let ctx = ClientContext::fresh(0);
        let mut sub = bounded(
            "subscribe",
            LongPoll::subscriber(&config, &addr, "h", ctx.clone()),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        for _ in 0..4 {
            assert_eq!(bounded("recv", sub.recv(&mut out)).await.unwrap(), 0);
        }
        let c = ctx.counters.counter_values();
        assert_eq!((c["polls"], c["empty_polls"]), (4, 4));
        // Four polls, three gaps between a reply and the next request.
        assert_eq!(ctx.counters.distributions()["repoll_gap_us"].len(), 3);
        per_poll.push((
            c["poll_request_header_bytes"] / 4,
            c["poll_response_header_bytes"] / 4,
        ));
        sub.close().await.unwrap();
        server.shutdown().await.unwrap();
    }
    eprintln!(
        "header bytes per poll (request, response): minimal {:?}, browser {:?}",
        per_poll[0], per_poll[1]
    );
    let (minimal, browser) = (per_poll[0], per_poll[1]);
    // "GET /topics/h/poll?cursor=0&max=1000&timeout_ms=1 HTTP/1.1\r\nHost: 127.0.0.1:NNNNN\r\n\r\n"
    assert!((70..=90).contains(&minimal.0), "{minimal:?}");
    assert!(browser.0 > minimal.0 + 512 + 400, "{browser:?}");
    // "HTTP/1.1 204 No Content\r\ncache-control: no-store\r\ndate: ...\r\n\r\n"
    assert!((60..=110).contains(&minimal.1), "{minimal:?}");
}
