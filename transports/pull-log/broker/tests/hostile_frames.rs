//! Connections that declare a large frame and send almost none of it: the broker reserves
//! nothing for the declared size and keeps serving. Alone in its own test binary (one
//! process) so the process-wide memory peak measures this test only.

// Its own binary, so the process-wide memory peak is this test's alone (the other broker
// tests share one binary); it needs only a few of the shared helpers.
#[allow(dead_code)]
#[path = "broker/common.rs"]
mod common;

mod memory_peak;

use common::*;
use kafka_protocol::messages::*;
use memory_peak::vm_peak_kib;
use transport_pull_log_broker::BrokerConfig;

/// Connections that each claim a frame just under the default limit.
const CLAIMANTS: usize = 8;
/// Growth of the peak allowed: reserving each declared frame would add 8 × 15 MiB.
const PEAK_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

#[tokio::test]
async fn declared_but_unsent_frames_reserve_nothing() {
    let (broker, ctx) = start(BrokerConfig::default()).await;
    let mut bystander = Conn::connect(&broker).await;
    let _: ApiVersionsResponse = bystander
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let read_before = read_total(&ctx);
    let before = vm_peak_kib();

    // Each claims 15 MiB, then sends 6 bytes of it and goes quiet.
    let mut claimants = Vec::new();
    let mut prefix = (15u32 << 20).to_be_bytes().to_vec();
    prefix.extend_from_slice(&[0, 3, 0, 4, 0, 0]);
    for _ in 0..CLAIMANTS {
        let mut c = Conn::connect(&broker).await;
        c.send_raw(&prefix).await;
        claimants.push(c);
    }
    // Wait (bounded, by yielding to the broker's tasks) until it has read every claim.
    let expected = read_before + (CLAIMANTS * prefix.len()) as u64;
    tokio::time::timeout(BOUND, async {
        while read_total(&ctx) < expected {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("broker read every claim");

    // Still serving, on an old and on a new connection.
    let _: ApiVersionsResponse = bystander
        .request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .await;
    let mut fresh = Conn::connect(&broker).await;
    create(&mut fresh, "after-claims").await;

    if let (Some(before), Some(after)) = (before, vm_peak_kib()) {
        let grew = after.saturating_sub(before);
        eprintln!("VmPeak grew by {grew} KiB");
        assert!(
            grew < PEAK_GROWTH_LIMIT_KIB,
            "peak virtual memory grew by {grew} KiB"
        );
    }
    drop(claimants);
    broker.shutdown().await.unwrap();
}

fn read_total(ctx: &transport_core::ServerContext) -> u64 {
    let w = ctx.wire.snapshot();
    w.read + w.handshake_read
}
