//! A graceful stop: a draining broker refuses produces with NOT_LEADER_OR_FOLLOWER (which
//! producers retry on the next broker), keeps serving fetches, and returns once no fetch has
//! carried records for the quiet spell, so a memory log is read out before it goes.

use crate::common::*;
use kafka_protocol::messages::*;
use tokio::time::Instant;
use transport_core::drain::{MAX_DRAIN, QUIET};
use transport_pull_log_broker::BrokerConfig;

const NOT_LEADER_OR_FOLLOWER: i16 = 6;

#[tokio::test]
async fn a_draining_broker_refuses_produces_and_serves_fetches_until_quiet() {
    let (broker, _ctx) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    create(&mut c, "drain").await;
    assert_eq!(produce(&mut c, "drain", &[b"kept"]).await, 0);
    let started = Instant::now();
    let client = async {
        let refused: ProduceResponse = c
            .request(
                ApiKey::Produce,
                7,
                &produce_req("drain", 0, 1, batch(&[b"refused"])),
            )
            .await;
        let p = &refused.responses[0].partition_responses[0];
        assert_eq!(
            p.error_code, NOT_LEADER_OR_FOLLOWER,
            "produce while draining"
        );
        let r: FetchResponse = c
            .request(ApiKey::Fetch, 12, &fetch_req("drain", 0, 0, 1))
            .await;
        let p = &r.responses[0].partitions[0];
        assert_eq!(
            values(p.records.as_ref().unwrap()),
            vec![(0, b"kept".to_vec())],
            "what the log holds is still served, and nothing refused was appended"
        );
        Instant::now()
    };
    // The drain is polled first, so it is draining before the produce reaches the broker.
    let ((), fetched_at) =
        tokio::time::timeout(BOUND, async { tokio::join!(broker.drain(), client) })
            .await
            .expect("a drain is bounded");
    let done = Instant::now();
    assert!(
        done >= fetched_at + QUIET,
        "the drain waits for quiet after the last records went out"
    );
    assert!(done - started <= MAX_DRAIN + QUIET, "{:?}", done - started);
    broker.shutdown().await.unwrap();
}
