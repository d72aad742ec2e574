//! Reconnects as `EventSource` does: after a cut the subscriber resumes with `Last-Event-ID`
//! (or from cursor 0 when the stream broke before its first event), and a resume point that
//! retention has dropped arrives as a `gone` event the client counts as lost, never as silence.
//! The client reconnects only inside `recv`, so each test publishes while it is cut off
//! without any timing.

use std::time::Duration;

use transport_core::conformance::{CutProxy, message};
use transport_core::{
    ClientContext, Publisher, ServerContext, ServerHandle, Subscriber, Transport,
};
use transport_sse::{Sse, SseConfig};
use transport_test_support::{bounded_for, traffic};

/// Each step may take this long (these tests have always allowed 20 s, twice test-support's
/// default; kept so this refactoring changes no bound).
const BOUND: Duration = Duration::from_secs(20);

async fn publish(p: &mut impl Publisher, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        bounded_for(BOUND, "publish", p.publish(message(seq, 32)))
            .await
            .expect("publish");
    }
    bounded_for(BOUND, "flush", p.flush()).await.expect("flush");
}

async fn receive(s: &mut impl Subscriber, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    while out.len() < n {
        bounded_for(BOUND, "recv", s.recv(&mut out))
            .await
            .expect("recv");
    }
    traffic::seqs(&out)
}

/// A server, a proxy that can cut, a subscriber through the proxy and a direct publisher.
async fn setup(
    config: &SseConfig,
) -> (
    impl ServerHandle,
    CutProxy,
    impl Subscriber,
    impl Publisher,
    ClientContext,
) {
    let server = traffic::serve::<Sse>(config, "127.0.0.1:0", ServerContext::fresh()).await;
    let proxy = CutProxy::start(server.local_addr()).await;
    let ctx = ClientContext::fresh(0);
    let sub = Sse::subscriber(config, &proxy.addr().to_string(), "t", ctx.clone())
        .await
        .expect("subscribe");
    let direct = server.local_addr().to_string();
    let publisher = Sse::publisher(config, &direct, "t", ClientContext::fresh(1))
        .await
        .expect("publisher");
    (server, proxy, sub, publisher, ctx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_past_retention_is_counted_lost() {
    let config = SseConfig {
        retention_messages: 10,
        ..SseConfig::default()
    };
    let (server, proxy, mut sub, mut publisher, ctx) = setup(&config).await;
    publish(&mut publisher, 0..2).await;
    assert_eq!(receive(&mut sub, 2).await, vec![0, 1]);
    // Wait for the relays to stop: an abort still in flight could pass the next events (and
    // the `gone` event) through the old connection, and the subscriber would never reconnect.
    proxy.cut().await;
    // 30 more while cut off: retention keeps 22..32, so 2..22 are gone.
    publish(&mut publisher, 2..32).await;
    assert_eq!(receive(&mut sub, 10).await, (22..32).collect::<Vec<_>>());
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["gone_messages"], 20, "{counters:?}");
    assert_eq!(counters["reconnects"], 1, "{counters:?}");
    bounded_for(BOUND, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_its_first_event_resumes_at_its_start() {
    let (server, proxy, mut sub, mut publisher, ctx) = setup(&SseConfig::default()).await;
    proxy.cut_all();
    publish(&mut publisher, 0..3).await;
    assert_eq!(receive(&mut sub, 3).await, vec![0, 1, 2]);
    // And after a cut with an id, Last-Event-ID resumes right after it.
    proxy.cut_all();
    publish(&mut publisher, 3..6).await;
    assert_eq!(receive(&mut sub, 3).await, vec![3, 4, 5]);
    let counters = ctx.counters.counter_values();
    assert_eq!(counters["reconnects"], 2, "{counters:?}");
    assert_eq!(counters.get("gone_messages").copied().unwrap_or(0), 0);
    bounded_for(BOUND, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
}

/// A restarted server begins its log again at cursor 0: once it has published past the old
/// Last-Event-ID, that ID points into the middle of an unrelated log. The server's epoch, sent
/// back on reconnect, makes the new server restart the stream at its earliest message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_read_from_its_start_not_from_the_old_id() {
    let config = SseConfig::default();
    let (server, proxy, mut sub, mut publisher, _ctx) = setup(&config).await;
    let addr = server.local_addr();
    publish(&mut publisher, 0..3).await;
    assert_eq!(receive(&mut sub, 3).await, vec![0, 1, 2]);
    drop(publisher);
    bounded_for(BOUND, "shutdown", server.shutdown())
        .await
        .expect("shutdown");
    let again = traffic::serve::<Sse>(&config, &addr.to_string(), ServerContext::fresh()).await;
    let mut publisher = Sse::publisher(&config, &addr.to_string(), "t", ClientContext::fresh(1))
        .await
        .expect("publisher");
    // Ten messages on the new server: its cursors 0..10 pass the old last ID (2).
    publish(&mut publisher, 3..13).await;
    assert_eq!(receive(&mut sub, 10).await, (3..13).collect::<Vec<_>>());
    drop(proxy);
    bounded_for(BOUND, "shutdown", again.shutdown())
        .await
        .expect("shutdown");
}
