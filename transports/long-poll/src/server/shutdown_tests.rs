//! Shutdown over real loopback sockets: idle keep-alive connections close at once, and a
//! connection stuck mid-request is dropped once the grace period ends, so nothing outlives
//! shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_core::{ServerContext, ServerHandle, TransportError};

use super::{LongPollServer, start};
use crate::config::LongPollConfig;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

async fn server() -> (LongPollServer, ServerContext) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ctx = ServerContext::fresh();
    let server = start(&LongPollConfig::default(), listener, ctx.clone()).unwrap();
    (server, ctx)
}

/// Waits (bounded, yielding to the server's tasks) until the server has read `n` bytes.
async fn server_read(ctx: &ServerContext, n: u64) {
    tokio::time::timeout(BOUND, async {
        while ctx.wire.snapshot().read + ctx.wire.snapshot().handshake_read < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("server read the request");
}

/// Whether the server closed `stream` (EOF or reset) within the bound.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_by_shutdown() {
    let (server, _ctx) = server().await;
    let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
    client
        .write_all(b"GET /topics/t/head HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(BOUND, client.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // The connection is now an idle keep-alive one.
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .expect("shutdown within bound")
        .unwrap();
    assert!(closed(&mut client).await, "idle connection closed");
}

#[tokio::test]
async fn connection_stuck_mid_request_is_dropped_after_the_grace() {
    let (server, ctx) = server().await;
    let addr = server.local_addr();
    let mut client = TcpStream::connect(addr).await.unwrap();
    // A publish whose body never finishes: graceful shutdown would wait for it forever.
    let head = b"POST /topics/t/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n";
    client.write_all(head).await.unwrap();
    client.write_all(b"0123456789").await.unwrap();
    server_read(&ctx, (head.len() + 10) as u64).await;

    let grace = Duration::from_millis(200);
    let result = tokio::time::timeout(BOUND, server.shutdown_within(grace))
        .await
        .expect("shutdown within bound");
    assert!(
        matches!(result, Err(TransportError::Timeout { .. })),
        "{result:?}"
    );
    // The connection task is gone, and with it the socket.
    assert!(closed(&mut client).await, "stuck connection closed");
    // Nothing listens any more either.
    let again = TcpStream::connect(addr).await;
    assert!(again.is_err(), "listener closed");
}
