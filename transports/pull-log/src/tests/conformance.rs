//! The core conformance kit, with one and several partitions.

use std::time::Duration;

use transport_core::conformance::delivers_in_order;
use transport_core::{ClientContext, Publisher, ServerHandle, Transport};

use super::util::{bounded, broker, message};
use crate::{Acks, BrokerConfig, PullLog, PullLogConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_one_partition() {
    transport_core::conformance::run_all::<PullLog>(PullLogConfig::default()).await;
}

/// Our broker's SSL listener and our client's `security_protocol = "ssl"` path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls() {
    let setup = transport_core::conformance::Setup::tls();
    transport_core::conformance::run_all_with::<PullLog>(&setup, PullLogConfig::default()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_with_other_producer_and_poll_options() {
    let variants = [
        PullLogConfig {
            acks: Acks::None,
            linger: Duration::from_millis(5),
            max_records_per_poll: Some(7),
            ..Default::default()
        },
        PullLogConfig {
            acks: Acks::All,
            linger: Duration::from_millis(2),
            batch_max_bytes: 300,
            max_in_flight_requests: 1,
            fetch_min_bytes: 2048,
            fetch_max_wait: Duration::from_millis(20),
            ..Default::default()
        },
    ];
    for config in variants {
        let report = delivers_in_order::<PullLog>(config.clone(), 2, 120, 100).await;
        if let Some(max) = config.max_records_per_poll {
            assert!(
                report.units.iter().all(|&u| u >= 120 / max),
                "{:?}",
                report.units
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linger_batches_messages_into_few_requests() {
    let config = PullLogConfig {
        linger: Duration::from_millis(50),
        ..Default::default()
    };
    let (server, addr) = broker(&config).await;
    let ctx = ClientContext::fresh(0);
    let mut p = bounded(
        "publisher",
        PullLog::publisher(&config, &addr, "linger", ctx.clone()),
    )
    .await
    .unwrap();
    // 25 small messages keep a batch under 2 KiB: transport-core's Distribution clamps larger
    // values (saturating_record on an auto-resizing histogram does not resize).
    for seq in 0..25 {
        bounded("publish", p.publish(message(0, seq)))
            .await
            .unwrap();
    }
    bounded("flush", p.flush()).await.unwrap();
    let requests = ctx.counters.counter_values()["produce_requests"];
    assert!((1..=3).contains(&requests), "{requests} produce requests");
    let sizes = ctx.counters.distributions()["batch_bytes"].clone();
    assert!(sizes.max() > 25 * 64 / requests, "{}", sizes.max());
    bounded("close", p.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}

#[test]
fn bootstrap_makes_the_runner_start_no_server() {
    let config = PullLogConfig {
        bootstrap: Some("kafka.example:9092".into()),
        ..Default::default()
    };
    assert_eq!(
        PullLog::external_address(&config).as_deref(),
        Some("kafka.example:9092")
    );
    assert_eq!(PullLog::external_address(&PullLogConfig::default()), None);
    PullLog::validate(&config).unwrap();
}
