//! Fan-out at the scale the runner uses: 100 subscribers each get every message once, in order.

use transport_core::conformance;
use transport_long_poll::{LongPoll, LongPollConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_subscribers_lose_nothing() {
    let report =
        conformance::delivers_in_order::<LongPoll>(LongPollConfig::default(), 100, 500, 100).await;
    let units: usize = report.units.iter().sum();
    // Implicit batching: fewer replies than messages delivered.
    eprintln!(
        "100 subscribers x 500 messages: {units} poll replies, {:.1} messages per reply",
        (100 * 500) as f64 / units as f64
    );
}
