//! raw-tcp's slow-consumer policies over real sockets, with a subscriber that stops reading
//! (it simply does not call `recv`, so nothing reads its socket): `block` holds the publisher
//! back and counts the time; `disconnect` never holds it back, closes the subscriber, which
//! resumes from the retained log without loss while the log covers it, and with the loss
//! counted, not hidden, once it does not.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use transport_core::conformance::message;
use transport_core::{ClientContext, Publisher, ServerContext, ServerHandle, Subscriber};
use transport_raw_tcp::{RawTcp, RawTcpConfig, SlowConsumer};
use transport_test_support::bounded;
use transport_test_support::traffic::{clients, receive_until, serve};

/// 300 messages of 64 KiB: 19 MiB, many times what a 16-message queue and the loopback
/// socket buffers hold.
const N: u64 = 300;
const LEN: usize = 64 * 1024;

fn config(policy: SlowConsumer, retain_bytes: usize) -> RawTcpConfig {
    RawTcpConfig {
        queue_capacity: 16,
        slow_consumer: policy,
        retain_bytes,
        reconnect_base: Duration::from_millis(2),
        reconnect_cap: Duration::from_millis(20),
        ..RawTcpConfig::default()
    }
}

/// Publishes every message and flushes, within one bound: the publisher must never wait for
/// the subscriber that does not read.
async fn publish_unhindered<P: Publisher>(publisher: &mut P) {
    bounded("publishing while the subscriber reads nothing", async {
        for seq in 0..N {
            publisher.publish(message(seq, LEN)).await.unwrap();
        }
        publisher.flush().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_closes_a_slow_subscriber_which_resumes_without_loss() {
    let config = config(SlowConsumer::Disconnect, 64 * 1024 * 1024);
    let server_ctx = ServerContext::fresh();
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", server_ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<RawTcp>(&config, &addr, &addr, &ctx).await;
    publish_unhindered(&mut publisher).await;
    let s = server_ctx.counters.counter_values();
    assert!(s["server_slow_consumer_disconnects"] >= 1, "{s:?}");
    assert_eq!(s["server_publish_blocked_ns"], 0, "disconnect never waits");
    let got = receive_until(&mut sub, N - 1).await;
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "in order, once, nothing lost"
    );
    let c = ctx.counters.counter_values();
    assert!(c["reconnects"] >= 1, "{c:?}");
    assert_eq!(c["resume_skipped"], 0);
    assert_eq!(
        server_ctx.counters.counter_values()["server_resume_skipped"],
        0
    );
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_past_the_retained_log_counts_what_was_lost() {
    // The log keeps about 2 MiB: far less than what the subscriber misses.
    let config = config(SlowConsumer::Disconnect, 2 * 1024 * 1024);
    let server_ctx = ServerContext::fresh();
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", server_ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<RawTcp>(&config, &addr, &addr, &ctx).await;
    publish_unhindered(&mut publisher).await;
    let got = receive_until(&mut sub, N - 1).await;
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    let lost = N - got.len() as u64;
    assert!(lost > 0, "the log could not cover the subscriber");
    // Every missing message is counted on both sides: the audit reports exactly these lost.
    assert_eq!(ctx.counters.counter_values()["resume_skipped"], lost);
    let s = server_ctx.counters.counter_values();
    assert_eq!(s["server_resume_skipped"], lost, "{s:?}");
    assert!(s["server_slow_consumer_disconnects"] >= 1);
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_holds_the_publisher_back_and_counts_the_time() {
    let config = config(SlowConsumer::Block, 64 * 1024 * 1024);
    let server_ctx = ServerContext::fresh();
    let server = serve::<RawTcp>(&config, "127.0.0.1:0", server_ctx.clone()).await;
    let addr = server.local_addr().to_string();
    let ctx = ClientContext::fresh(0);
    let (mut sub, mut publisher) = clients::<RawTcp>(&config, &addr, &addr, &ctx).await;
    let mut publishing = tokio::spawn(async move {
        for seq in 0..N {
            publisher.publish(message(seq, LEN)).await.unwrap();
        }
        publisher.flush().await.unwrap();
        publisher
    });
    // While nobody reads, 19 MiB cannot fit in the queue and the socket buffers, so the
    // publisher cannot finish. (A negative check: this wait is not synchronisation.)
    let early = tokio::time::timeout(Duration::from_millis(300), &mut publishing).await;
    assert!(
        early.is_err(),
        "the publisher finished although nothing was read"
    );
    let got = receive_until(&mut sub, N - 1).await;
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    let publisher = bounded("publisher finishes", publishing).await.unwrap();
    let s = server_ctx.counters.counter_values();
    // Held back, for however long a loaded machine took to run the publisher task.
    assert!(s["server_publish_blocked_ns"] > 0, "held back: {s:?}");
    assert_eq!(s["server_slow_consumer_disconnects"], 0);
    bounded("close", publisher.close()).await.unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}
