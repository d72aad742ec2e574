//! A reconnect whose incarnation check fails must not fetch: the subscriber reconnects to a
//! broker with a new, longer log (new topic id, records past the old position), and the
//! ListOffsets that would move its positions to that log's start fails. Fetching on that
//! connection anyway would read the new log from the old position, or read the stalled
//! ListOffsets' answer slot as the Fetch answer. Both runs must read the new log whole, from
//! its start.

use std::collections::BTreeMap;
use std::time::Duration;

use transport_core::{ClientContext, Envelope, Publisher, ServerHandle, Subscriber, Transport};

use super::fault_proxy::{Fault, FaultProxy};
use super::util::*;
use crate::{PullLog, PullLogSubscriber};

const TOPIC: &str = "zq-checked";

/// Reads exactly the seqs of `expected`, failing at the first one out of order (a skip shows
/// at once instead of as a timeout).
async fn read_exactly(sub: &mut PullLogSubscriber, expected: std::ops::Range<u64>) {
    bounded("read", async {
        let mut next = expected.start;
        let mut buf = Vec::new();
        while next < expected.end {
            buf.clear();
            sub.recv(&mut buf).await.unwrap();
            for m in &buf {
                let seq = Envelope::decode(m).unwrap().seq;
                assert_eq!(seq, next, "the new log from its start, nothing skipped");
                next += 1;
            }
        }
    })
    .await;
}

/// Subscribes through a proxy to broker A and reads 0..20; publishes 20..70 to broker B (its
/// offsets 0..50, with another topic id); switches the proxy to B with `fault` armed and cuts.
/// Returns the subscriber's counters after it has read all of B's log.
async fn read_after_failed_check(fault: Fault) -> BTreeMap<String, u64> {
    let mut config = config(1);
    config.fetch_max_wait = Duration::from_millis(100);
    // What a swallowed ListOffsets costs.
    config.request_timeout = Duration::from_millis(1_000);
    let (a, a_addr) = broker(&config).await;
    let (b, b_addr) = broker(&config).await;
    let proxy = FaultProxy::start(&a_addr).await;
    let ctx = ClientContext::fresh(0);
    let mut sub = bounded(
        "subscribe",
        PullLog::subscriber(&config, proxy.addr(), TOPIC, ctx.clone()),
    )
    .await
    .unwrap();
    let mut pa = publisher(&config, &a_addr, TOPIC, 0).await;
    publish(&mut pa, 0, 0..20).await;
    read_exactly(&mut sub, 0..20).await;
    let mut pb = publisher(&config, &b_addr, TOPIC, 0).await;
    publish(&mut pb, 0, 20..70).await;

    proxy.switch(&b_addr, fault);
    if let Fault::Mangle { .. } = fault {
        // A check that cannot succeed is reported; polling again must still not fetch from
        // the old position on that connection.
        let mut buf = Vec::new();
        let first = bounded("failed check", sub.recv(&mut buf)).await;
        assert!(first.is_err() && buf.is_empty(), "{first:?}");
    }
    read_exactly(&mut sub, 20..70).await;
    assert!(proxy.fired(), "the fault was applied");

    bounded("close", sub.close()).await.unwrap();
    for p in [pa, pb] {
        bounded("close", p.close()).await.unwrap();
    }
    for s in [a, b] {
        bounded("shutdown", s.shutdown()).await.unwrap();
    }
    ctx.counters.counter_values()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_check_reconnects_before_fetching() {
    let counters = read_after_failed_check(Fault::Swallow).await;
    assert_eq!(counters["epoch_resets"], 1, "{counters:?}");
    // The cut, then the connection whose ListOffsets stalled replaced.
    assert_eq!(counters["subscriber_reconnects"], 2, "{counters:?}");
    assert_eq!(counters["offset_resets"], 0, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_check_never_fetches_on_that_connection() {
    let counters = read_after_failed_check(Fault::Mangle { topic: TOPIC }).await;
    assert_eq!(counters["epoch_resets"], 1, "{counters:?}");
    assert_eq!(counters["subscriber_reconnects"], 2, "{counters:?}");
    assert_eq!(counters["offset_resets"], 0, "{counters:?}");
}
