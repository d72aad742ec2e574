//! Requests whose array counts fit the bytes but not what decoding them would cost: each is
//! rejected before anything large is allocated, and the broker keeps serving. Alone in its
//! own test binary (one process) so the process-wide memory peak measures this test only.

// Its own binary, so the process-wide memory peak is this test's alone (the other broker
// tests share one binary); it needs only a few of the shared helpers.
#[allow(dead_code)]
#[path = "broker/common.rs"]
mod common;

mod memory_peak;

use bytes::{BufMut, BytesMut};
use common::*;
use kafka_protocol::messages::*;
use memory_peak::vm_peak_kib;
use transport_pull_log_broker::{BrokerConfig, DEFAULT_MAX_REQUEST_BYTES};

/// Growth of the peak allowed for the whole test: the 8 MiB hostile frame exists once in the
/// test and once in the broker's buffer. Decoding it would reserve ~4M × 80 B ≈ 320 MiB.
const PEAK_GROWTH_LIMIT_KIB: u64 = 96 * 1024;

#[tokio::test]
async fn counts_that_fit_the_bytes_but_not_the_budget_are_rejected() {
    let config = BrokerConfig::default();
    assert_eq!(config.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    let (broker, ctx) = start(config).await;
    let mut bystander = Conn::connect(&broker).await;
    let _: ApiVersionsResponse = bystander
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let before = vm_peak_kib();

    // 4M empty (2-byte) topic names: the count fits the bytes even at two bytes per element,
    // under the frame limit, but would decode to hundreds of MiB of structs.
    let n = 4 * 1024 * 1024;
    let hostile = [
        metadata_v4_frame(n as i32, &vec![0; 2 * n]),
        // Null names where v4 does not allow them: 2 bytes each on the wire.
        metadata_v4_frame(1000, &[0xff; 2000]),
        // A count that fits one byte per element but not two.
        metadata_v4_frame(1000, &[0; 1000]),
    ];
    for (i, frame) in hostile.iter().enumerate() {
        let mut c = Conn::connect(&broker).await;
        c.send_raw(frame).await;
        assert!(
            c.closed().await,
            "hostile request {i} closes its connection"
        );
    }

    // Other connections are unaffected: the old one and a new one both answer.
    let _: ApiVersionsResponse = bystander
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let mut fresh = Conn::connect(&broker).await;
    create(&mut fresh, "after-hostile").await;
    assert!(ctx.counters.counter_values()["server_malformed_requests"] >= 3);

    if let (Some(before), Some(after)) = (before, vm_peak_kib()) {
        let grew = after.saturating_sub(before);
        assert!(
            grew < PEAK_GROWTH_LIMIT_KIB,
            "peak virtual memory grew by {grew} KiB"
        );
        eprintln!("VmPeak grew by {grew} KiB");
    }
    broker.shutdown().await.unwrap();
}

/// A Metadata v4 request frame (correlation id 1, null client id) with `count` in the topic
/// array followed by `names` raw bytes and allow-auto-create.
fn metadata_v4_frame(count: i32, names: &[u8]) -> Vec<u8> {
    let mut f = BytesMut::new();
    f.put_i32((10 + 4 + names.len() + 1) as i32);
    f.put_i16(3); // api key: Metadata
    f.put_i16(4); // version
    f.put_i32(1); // correlation id
    f.put_i16(-1); // client id: null
    f.put_i32(count);
    f.put_slice(names);
    f.put_u8(1);
    f.to_vec()
}
