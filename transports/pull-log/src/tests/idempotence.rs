//! The idempotent producer end to end: a Produce whose response is lost after the broker
//! appended it is resent with the same sequence and stored once; without idempotence the same
//! fault stores it twice (which shows the fault really forces a resend); a broker refusing
//! InitProducerId gets plain batches and the fallback is counted.

use transport_core::{ClientContext, Envelope, ServerHandle, Subscriber, Transport};

use super::fault_proxy::{Fault, FaultProxy};
use super::util::*;
use crate::{PullLog, PullLogConfig};

/// Publishes 0..100 through a proxy that loses the response to the first Produce after 50,
/// then a sentinel (100); returns (arrivals of 0..100 up to the sentinel, publisher counters).
async fn lose_one_produce_response(idempotent: bool) -> (usize, ClientContext) {
    let config = PullLogConfig {
        idempotent,
        ..config(1)
    };
    let (server, addr) = broker(&config).await;
    let proxy = FaultProxy::start(&addr).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = subscriber(&config, &addr, "idem", 0).await;
    let mut p = bounded(
        "publisher",
        PullLog::publisher(&config, proxy.addr(), "idem", ctx.clone()),
    )
    .await
    .unwrap();
    publish(&mut p, 0, 0..50).await;
    proxy.arm(Fault::LoseProduceResponse);
    // The flush inside returns only once the resent batch is acknowledged.
    publish(&mut p, 0, 50..100).await;
    assert_eq!(proxy.lost(), 1, "the fault fired");
    publish(&mut p, 0, 100..101).await;

    // One partition keeps publish order, so every copy of 0..100 arrives before the sentinel.
    let mut arrivals = vec![0usize; 100];
    let mut buf = Vec::new();
    'recv: loop {
        buf.clear();
        bounded("recv", sub.recv(&mut buf)).await.unwrap();
        for m in &buf {
            let seq = Envelope::decode(m).unwrap().seq;
            if seq == 100 {
                break 'recv;
            }
            arrivals[seq as usize] += 1;
        }
    }
    assert!(arrivals.iter().all(|&n| n >= 1), "every message arrived");
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
    (arrivals.iter().sum(), ctx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_produce_response_is_resent_and_stored_once() {
    let (arrivals, ctx) = lose_one_produce_response(true).await;
    assert_eq!(arrivals, 100, "each record delivered once");
    let c = ctx.counters.counter_values();
    assert!(c["publisher_reconnects"] >= 1);
    assert_eq!(c.get("idempotence_fallbacks").copied().unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotence_the_same_fault_duplicates() {
    let (arrivals, _) = lose_one_produce_response(false).await;
    assert!(arrivals > 100, "the resent batch was appended again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refusing_init_producer_id_gets_plain_batches() {
    let config = config(1);
    let (server, addr) = broker(&config).await;
    let proxy = FaultProxy::start(&addr).await;
    proxy.arm(Fault::RefuseInitProducerId);
    let ctx = ClientContext::fresh(0);
    let mut sub = subscriber(&config, &addr, "plain", 0).await;
    let mut p = bounded(
        "publisher",
        PullLog::publisher(&config, proxy.addr(), "plain", ctx.clone()),
    )
    .await
    .unwrap();
    assert!(proxy.fired());
    publish(&mut p, 0, 0..10).await;
    assert_eq!(receive(&mut sub, 10).await, (0..10).collect::<Vec<u64>>());
    assert_eq!(ctx.counters.counter_values()["idempotence_fallbacks"], 1);
    bounded("close", transport_core::Publisher::close(p))
        .await
        .unwrap();
    bounded("close", sub.close()).await.unwrap();
    bounded("shutdown", server.shutdown()).await.unwrap();
}
