//! RFC 6455 behaviour a standard client (PyPI `websockets`, `examples/close.py`) and a browser
//! rely on: a client's Close frame is answered with a Close frame echoing its code before TCP
//! closes (§5.5.1) on every kind of connection; a `Sec-WebSocket-Key` that is not base64 of 16
//! bytes gets 400 (§4.2.1); malformed HTTP gets a 400 response, not a bare FIN. After each, the
//! server still serves others. The Python test prints one skip line where Python's `websockets`
//! is missing (a failure under `TRANSPORT_BENCH_REQUIRE_PEERS=1`).

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/subscribe.rs"]
mod subscribe;

use std::process::{Command, Stdio};

use common::{bounded, server};
use subscribe::raw_subscriber;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use transport_core::ServerHandle;
use transport_test_support::peers;
use transport_websocket::WebSocketConfig;

/// Runs `examples/close.py` on `url` and returns its output line.
async fn python_close(url: String, notice: bool) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/close.py");
    let mut args = vec![script.to_owned(), url];
    if notice {
        args.push("notice".into());
    }
    // The script bounds its own waits (10 s), so this thread always ends.
    let out = bounded(
        "python close",
        tokio::task::spawn_blocking(move || {
            Command::new(peers::python())
                .args(&args)
                .stderr(Stdio::inherit())
                .output()
        }),
    )
    .await
    .expect("thread")
    .expect("python3 runs");
    assert!(out.status.success(), "python exited with {}", out.status);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_is_echoed_on_every_connection_kind() {
    if !peers::present(&peers::PYTHON_WEBSOCKETS) {
        return;
    }
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    let cases = [
        (format!("ws://{addr}/topics/demo"), true),
        (format!("ws://{addr}/topics/demo/publish"), false),
        (format!("ws://{addr}/topics/demo/publish?session=7"), true),
    ];
    for (url, notice) in cases {
        let line = python_close(url.clone(), notice).await;
        assert_eq!(line, "received 1000", "{url}");
    }
    // The server still serves others.
    let _ = raw_subscriber(&addr, "demo").await;
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// Sends `request` on a fresh connection and returns everything the server sends back until
/// it closes.
async fn exchange(addr: &str, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    bounded("reply", tcp.read_to_end(&mut reply))
        .await
        .expect("read");
    String::from_utf8_lossy(&reply).into_owned()
}

fn upgrade_request(addr: &str, key: &str) -> String {
    format!(
        "GET /topics/demo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_key_that_is_not_16_bytes_of_base64_is_refused_with_400() {
    let (server, _, addr) = server(&WebSocketConfig::default()).await;
    for key in [
        "short",
        "not base64 at all!!!!!!!",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let reply = exchange(&addr, &upgrade_request(&addr, key)).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "key {key:?}: {reply:?}");
    }
    // A valid key (the RFC's example) still upgrades.
    let reply_ok = {
        let mut tcp = TcpStream::connect(&addr).await.expect("connect");
        let req = upgrade_request(&addr, "dGhlIHNhbXBsZSBub25jZQ==");
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut buf = vec![0; 12];
        bounded("status", tcp.read_exact(&mut buf))
            .await
            .expect("read");
        String::from_utf8_lossy(&buf).into_owned()
    };
    assert_eq!(reply_ok, "HTTP/1.1 101");
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn malformed_http_gets_a_400_response() {
    let (server, ctx, addr) = server(&WebSocketConfig::default()).await;
    for request in [
        "hello\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/1.1\r\nno colon\r\n\r\n",
    ] {
        let reply = exchange(&addr, request).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{request:?}: {reply:?}");
    }
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["server_rejected_upgrades"], 3, "{counters:?}");
    let _ = raw_subscriber(&addr, "demo").await;
    bounded("shutdown", server.shutdown())
        .await
        .expect("shutdown");
}
