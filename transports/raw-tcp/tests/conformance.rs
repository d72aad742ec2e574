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
async fn passes_the_conformance_kit_over_tls() {
    conformance::run_all_with::<RawTcp>(&conformance::Setup::tls(), RawTcpConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_the_plaintext_counts_equal_the_framing_arithmetic() {
    let (n, payload, subs) = (300u64, 100u64, 3u64);
    let config = RawTcpConfig {
        sync_interval: Duration::from_secs(3600),
        ..RawTcpConfig::default()
    };
    let setup = conformance::Setup::tls();
    let plain = conformance::delivers_in_order::<RawTcp>(
        config.clone(),
        subs as usize,
        n,
        payload as usize,
    )
    .await;
    let tls = conformance::delivers_in_order_with::<RawTcp>(
        &setup,
        config,
        subs as usize,
        n,
        payload as usize,
    )
    .await;
    // Above TLS the pattern moves exactly the bytes it moves over plain TCP.
    assert_eq!(tls.client_plaintext, Some(plain.client));
    assert_eq!(tls.server_plaintext, Some(plain.server));
    // Both ends count the same ciphertext, except the TLS close_notify alerts (24 bytes: a
    // 5-byte record header, 2 bytes of alert, the content type and a 16-byte tag) that a side
    // sends as it closes and the other may no longer read.
    let conns = tls.client.connections;
    let close_notify = 24 * conns;
    let (sent, got) = (tls.client.total_written(), tls.server.total_read());
    assert!(
        got <= sent && sent - got <= close_notify,
        "{sent} written, {got} read"
    );
    let (sent, got) = (tls.server.total_written(), tls.client.total_read());
    assert!(
        got <= sent && sent - got <= close_notify,
        "{sent} written, {got} read"
    );
    assert!(tls.client.total_written() > plain.client.total_written() + 100 * conns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_counts_equal_the_framing_arithmetic() {
    let (n, payload, subs) = (300u64, 100u64, 3u64);
    // Syncs by count only, so the arithmetic does not depend on how fast the test runs.
    let config = RawTcpConfig {
        sync_interval: Duration::from_secs(3600),
        ..RawTcpConfig::default()
    };
    let syncs = n / u64::from(config.sync_every_messages) + 1;
    let report =
        conformance::delivers_in_order::<RawTcp>(config, subs as usize, n, payload as usize).await;
    // Handshake: publisher hello = 4 (length) + 1 (role) + 8 (session) + topic; subscriber
    // hello = 4 + 1 + 8 (epoch) + 8 (from) + topic; reply = 4 + 1 + 8 (epoch) + 8 (position).
    // Steady state: message = 4 + payload per hop; every 256 messages and at the flush the
    // publisher syncs: an empty frame (4) answered with a count (4 + 8).
    let topic = "conformance".len() as u64;
    let pub_hello = 4 + 1 + 8 + topic;
    let sub_hello = 4 + 1 + 16 + topic;
    let reply = 4 + 17;
    let clients = subs + 1;
    let expected_client = WireSnapshot {
        written: n * (4 + payload) + syncs * 4,
        read: subs * n * (4 + payload) + syncs * (4 + 8),
        handshake_written: pub_hello + subs * sub_hello,
        handshake_read: clients * reply,
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
    // Hello: role, session id, topic.
    raw.send(bytes::Bytes::from_static(b"P\0\0\0\0\0\0\0\x01big"))
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), raw.next())
        .await
        .unwrap();
    // Reply: 0, epoch, relayed count (all ones: the server does not know this session yet).
    let ack = ack.unwrap().unwrap();
    assert_eq!((ack.len(), ack[0], &ack[9..]), (17, 0, &[0xffu8; 8][..]));
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
async fn a_publisher_that_ends_inside_a_frame_has_only_its_whole_frames_relayed() {
    let config = RawTcpConfig::default();
    let ctx = ServerContext::fresh();
    let server = conformance::start::<RawTcp>(&config, ctx.clone()).await;
    let stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut raw = Framed::new(stream, LengthDelimitedCodec::new());
    let bound = Duration::from_secs(5);
    raw.send(bytes::Bytes::from_static(b"P\0\0\0\0\0\0\0\x02cut"))
        .await
        .unwrap();
    tokio::time::timeout(bound, raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Two messages and a sync in one write: the sync's answer counts both.
    let mut wire = Vec::new();
    for body in [&b"one"[..], b"two", b""] {
        wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
        wire.extend_from_slice(body);
    }
    // Then half a frame, and the end of the stream.
    wire.extend_from_slice(&[0, 0, 0, 9, b'h', b'a']);
    let mut stream = raw.into_inner();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &wire)
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::shutdown(&mut stream)
        .await
        .unwrap();
    let mut raw = Framed::new(stream, LengthDelimitedCodec::new());
    let reply = tokio::time::timeout(bound, raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&reply[..], &2u64.to_be_bytes()[..]);
    // The cut frame is a protocol error, counted before the server closes the connection.
    let end = tokio::time::timeout(bound, raw.next()).await.unwrap();
    assert!(end.is_none() || end.unwrap().is_err());
    assert_eq!(ctx.counters.counter_values()["server_protocol_errors"], 1);
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
    // Hello: role, epoch 0 (a new subscription at the live edge), from, topic.
    let mut hello = b"S".to_vec();
    hello.extend_from_slice(&[0u8; 16]);
    hello.extend_from_slice(b"stuck");
    stalled.send(bytes::Bytes::from(hello)).await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), stalled.next())
        .await
        .unwrap();
    assert_eq!(ack.unwrap().unwrap()[0], 0);
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
    // The writer parked on the full socket must not hold the shutdown: were it to, the
    // shutdown would never end, and this bound (generous for a loaded machine) fails.
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown is not held by the parked writer")
        .expect("clean shutdown");
    drop(publisher);
    drop(stalled);
}
