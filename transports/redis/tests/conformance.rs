//! The core conformance kit against a real redis-server, once per transport: delivery in order
//! to one and several subscribers, shutdown with a parked subscriber, garbage on a connection,
//! subscribers from spread loopback sources; then the reconnect case each one promises:
//! Streams resumes from its last id without loss, Pub/Sub comes back and counts what it lost.

use transport_core::conformance;
use transport_redis::{PubSubConfig, RedisPubSub, RedisStreams, StreamsConfig};
use transport_test_support::peers::{REDIS, present};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_streams() {
    if !present(&REDIS) {
        return;
    }
    conformance::run_all::<RedisStreams>(StreamsConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_pubsub() {
    if !present(&REDIS) {
        return;
    }
    conformance::run_all::<RedisPubSub>(PubSubConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_reconnects_and_counts_its_loss() {
    if !present(&REDIS) {
        return;
    }
    let report =
        conformance::counts_loss_after_cut::<RedisPubSub>(PubSubConfig::default(), 50, 5).await;
    // What was lost is exactly what did not arrive; at least the 5 after the return did.
    assert!(report.received >= 55, "{report:?}");
    eprintln!(
        "redis-pubsub across a cut: {report:?}, lost {}",
        report.lost()
    );
}
