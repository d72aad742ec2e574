//! The core conformance kit, with one and several partitions.

use crate::{BrokerConfig, PullLog, PullLogConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_one_partition() {
    transport_core::conformance::run_all::<PullLog>(PullLogConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_several_partitions() {
    let config = PullLogConfig {
        broker: BrokerConfig {
            partitions_per_topic: 4,
            ..Default::default()
        },
        ..Default::default()
    };
    transport_core::conformance::run_all::<PullLog>(config).await;
}
