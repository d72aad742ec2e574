//! The core conformance kit against a real nats-server, once per pattern: delivery in order
//! to one and several subscribers, shutdown with a parked subscriber, garbage on a
//! connection, subscribers from spread loopback sources; resume after every connection is cut
//! for the JetStream consumers, counted loss (and nothing else) for at-most-once core NATS.

use transport_core::conformance;
use transport_nats::{CoreConfig, NatsCore, NatsPull, NatsPush, PullConfig, PushConfig};
use transport_test_support::peers::{NATS, present};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_core() {
    if !present(&NATS) {
        return;
    }
    conformance::run_all::<NatsCore>(CoreConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_push() {
    if !present(&NATS) {
        return;
    }
    conformance::run_all::<NatsPush>(PushConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_pull() {
    if !present(&NATS) {
        return;
    }
    conformance::run_all::<NatsPull>(PullConfig::default()).await;
}
