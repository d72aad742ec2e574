//! The core conformance kit, for the default deployment and the variants that change the wire.

use transport_core::conformance;
use transport_long_poll::{ConnectionMode, Encoding, HeaderProfile, LongPoll, LongPollConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_default() {
    conformance::run_all::<LongPoll>(LongPollConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls() {
    conformance::run_all_with::<LongPoll>(&conformance::Setup::tls(), LongPollConfig::default())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_per_request_connections() {
    let config = LongPollConfig {
        connection: ConnectionMode::PerRequest,
        ..LongPollConfig::default()
    };
    let report = conformance::delivers_in_order::<LongPoll>(config, 2, 200, 100).await;
    // One connection per poll plus one per subscriber's head request, plus the publisher's.
    let polls: usize = report.units.iter().sum();
    assert!(
        report.client.connections as usize >= polls + 2,
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_json() {
    let config = LongPollConfig {
        encoding: Encoding::Json,
        ..LongPollConfig::default()
    };
    let report = conformance::delivers_in_order::<LongPoll>(config, 2, 200, 100).await;
    // Base64 makes every payload a third larger on the way in.
    assert!(
        report.server.total_read() >= 200 * 100 * 4 / 3,
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_browser_headers_single_message_posts() {
    let config = LongPollConfig {
        headers: HeaderProfile::Browser,
        publish_batch: 1,
        empty_status: 200,
        ..LongPollConfig::default()
    };
    conformance::delivers_in_order::<LongPoll>(config, 3, 300, 256).await;
}
