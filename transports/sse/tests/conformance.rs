//! The core conformance kit, and what the event stream costs on the wire.

use transport_core::conformance;
use transport_sse::{Sse, SseConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_default() {
    conformance::run_all::<Sse>(SseConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls() {
    conformance::run_all_with::<Sse>(&conformance::Setup::tls(), SseConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_makes_payloads_a_third_larger_on_the_way_out() {
    let report = conformance::delivers_in_order::<Sse>(SseConfig::default(), 2, 200, 99).await;
    assert!(
        report.server.total_written() >= 2 * 200 * 99 * 4 / 3,
        "{report:?}"
    );
    // One `recv` (delivery unit) per event, so per message.
    assert_eq!(report.units, vec![200, 200], "{report:?}");
}

/// SSE once dialled from the kernel's default source whatever its context said, so a run of more
/// than ~28K SSE subscribers on one host failed where the other transports did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_spread_over_loopback_sources() {
    conformance::subscribers_connect_from_their_source::<Sse>(SseConfig::default()).await;
}
