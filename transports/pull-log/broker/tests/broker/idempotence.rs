//! The idempotent producer on the wire: InitProducerId at every supported version, a resent
//! batch answered with its original offset and not appended again, out-of-order sequences
//! and stale epochs refused with Kafka's error codes.

use crate::common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use transport_pull_log_broker::BrokerConfig;

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

async fn init(c: &mut Conn, version: i16, id: i64, epoch: i16) -> InitProducerIdResponse {
    let mut req = InitProducerIdRequest::default();
    // The default is an empty transactional id, which Kafka refuses; null asks for idempotence.
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    req.producer_id = ProducerId(id);
    req.producer_epoch = epoch;
    c.request(ApiKey::InitProducerId, version, &req).await
}

/// Produces one batch at v7 (what kcat sends); returns (error code, base offset).
async fn send(c: &mut Conn, records: bytes::Bytes) -> (i16, i64) {
    let resp: ProduceResponse = c
        .request(ApiKey::Produce, 7, &produce_req("idem", 0, -1, records))
        .await;
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test]
async fn init_producer_id_hands_out_ids_and_bumps_epochs() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let mut ids = Vec::new();
    for v in 0..=5 {
        let r = init(&mut c, v, -1, -1).await;
        assert_eq!((r.error_code, r.producer_epoch), (0, 0), "v{v}");
        ids.push(r.producer_id.0);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "fresh ids: {ids:?}");
    // KIP-360: a producer re-initialising with its own id gets the next epoch.
    let r = init(&mut c, 4, ids[0], 0).await;
    assert_eq!(
        (r.error_code, r.producer_id.0, r.producer_epoch),
        (0, ids[0], 1)
    );
    // Transactions are not implemented.
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = Some(TransactionalId(StrBytes::from_static_str("tx")));
    let r: InitProducerIdResponse = c.request(ApiKey::InitProducerId, 0, &req).await;
    assert_eq!(r.error_code, 42);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn resends_are_answered_with_the_original_offset_and_gaps_are_refused() {
    let (broker, _) = start(BrokerConfig::default()).await;
    let mut c = Conn::connect(&broker).await;
    let pid = init(&mut c, 4, -1, -1).await.producer_id.0;
    let first = idempotent_batch(&[b"a", b"b", b"c"], pid, 0, 0);
    let second = idempotent_batch(&[b"d", b"e"], pid, 0, 3);
    assert_eq!(send(&mut c, first.clone()).await, (0, 0));
    assert_eq!(send(&mut c, first.clone()).await, (0, 0), "duplicate");
    assert_eq!(send(&mut c, second.clone()).await, (0, 3));
    // Both recent batches are still recognised, on another connection too.
    let mut other = Conn::connect(&broker).await;
    assert_eq!(send(&mut other, first).await, (0, 0));
    assert_eq!(send(&mut other, second).await, (0, 3));
    // A gap in the sequence, and a known first sequence with another length.
    let gap = idempotent_batch(&[b"x"], pid, 0, 9);
    assert_eq!(send(&mut c, gap).await.0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    let overlap = idempotent_batch(&[b"x"], pid, 0, 3);
    assert_eq!(send(&mut c, overlap).await.0, OUT_OF_ORDER_SEQUENCE_NUMBER);
    // A bumped epoch starts over; the old epoch is then fenced.
    let bumped = idempotent_batch(&[b"f"], pid, 1, 0);
    assert_eq!(send(&mut c, bumped).await, (0, 5));
    let stale = idempotent_batch(&[b"y"], pid, 0, 5);
    assert_eq!(send(&mut c, stale).await.0, INVALID_PRODUCER_EPOCH);
    // Non-idempotent batches are never deduplicated.
    assert_eq!(send(&mut c, batch(&[b"g"])).await, (0, 6));
    assert_eq!(send(&mut c, batch(&[b"g"])).await, (0, 7));

    let r: FetchResponse = c
        .request(ApiKey::Fetch, 11, &fetch_req("idem", 0, 0, 1))
        .await;
    let got: Vec<Vec<u8>> = values(r.responses[0].partitions[0].records.as_ref().unwrap())
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let want: Vec<&[u8]> = vec![b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"g"];
    assert_eq!(got, want);
    broker.shutdown().await.unwrap();
}
