//! raw-tcp against the shared conformance kit, plus exact wire arithmetic: with no protocol
//! beyond a 4-byte length prefix, every byte on the wire is predictable.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use transport_core::conformance;
use transport_core::{ServerContext, ServerHandle, WireSnapshot};
use transport_raw_tcp::{RawTcp, RawTcpConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_kit() {
    conformance::run_all::<RawTcp>(RawTcpConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_counts_equal_the_framing_arithmetic() {
    let (n, payload, subs) = (300u64, 100u64, 3u64);
    let report = conformance::delivers_in_order::<RawTcp>(
        RawTcpConfig::default(),
        subs as usize,
        n,
        payload as usize,
    )
    .await;
    // hello = 4 (length) + 1 (role) + topic; ack = 4 + 1; message = 4 + payload, per hop.
    let hello = 4 + 1 + "conformance".len() as u64;
    let ack = 4 + 1;
    let clients = subs + 1;
    let expected_client = WireSnapshot {
        written: n * (4 + payload),
        read: subs * n * (4 + payload),
        handshake_written: clients * hello,
        handshake_read: clients * ack,
        connections: clients,
    };
    assert_eq!(report.client, expected_client);
    let expected_server = WireSnapshot {
        read: expected_client.written,
        written: expected_client.read,
        handshake_read: expected_client.handshake_written,
        handshake_written: expected_client.handshake_read,
        connections: clients,
    };
    assert_eq!(report.server, expected_server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_only_that_connection() {
    let config = RawTcpConfig {
        max_frame_bytes: 1024,
        ..RawTcpConfig::default()
    };
    let ctx = ServerContext::fresh();
    let server = conformance::start::<RawTcp>(&config, ctx.clone()).await;
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut raw = Framed::new(
        stream,
        LengthDelimitedCodec::builder()
            .max_frame_length(1 << 20)
            .new_codec(),
    );
    raw.send(bytes::Bytes::from_static(b"Pbig")).await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .unwrap();
    assert_eq!(&ack.unwrap().unwrap()[..], &[0]);
    raw.send(bytes::Bytes::from(vec![0u8; 4096])).await.unwrap();
    // The server closes the connection instead of buffering a frame past its limit.
    let end = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .unwrap();
    assert!(end.is_none() || end.unwrap().is_err());
    assert_eq!(ctx.counters.counter_values()["server_protocol_errors"], 1);
    // ...and keeps serving everyone else.
    conformance::survives_garbage::<RawTcp>(config).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_with_a_subscriber_that_stopped_reading() {
    use transport_core::{ClientContext, Publisher, Transport};
    let config = RawTcpConfig {
        queue_capacity: 16,
        ..RawTcpConfig::default()
    };
    let server = conformance::start::<RawTcp>(&config, ServerContext::fresh()).await;
    // A subscriber that says hello and then never reads again.
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut stalled = Framed::new(stream, LengthDelimitedCodec::new());
    stalled
        .send(bytes::Bytes::from_static(b"Sstuck"))
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), stalled.next())
        .await
        .unwrap();
    assert_eq!(&ack.unwrap().unwrap()[..], &[0]);
    let addr = server.local_addr().to_string();
    let mut publisher = RawTcp::publisher(&config, &addr, "stuck", ClientContext::fresh(0))
        .await
        .unwrap();
    // Far more than the subscriber's queue and both socket buffers hold: the server's writer
    // ends up parked on a full socket and backpressure stops the publisher.
    let msg = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    let flood = tokio::time::timeout(Duration::from_secs(2), async {
        for _ in 0..2_000 {
            publisher.publish(msg.clone()).await.unwrap();
        }
    })
    .await;
    assert!(
        flood.is_err(),
        "backpressure must hold the publisher once the subscriber stalls"
    );
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("bounded")
        .expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    drop(publisher);
    drop(stalled);
}
