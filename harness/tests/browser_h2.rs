//! Browser subscribers over HTTPS and HTTP/2: the page on the server's `https://` origin,
//! Chromium trusting the run's throwaway server key by its SPKI hash (no blanket bypass), and
//! seven subscribers of one page (one more than HTTP/1.1's six connections per origin) all live
//! at once and served over one connection, as HTTP/2 multiplexes them.
//!
//! Needs Debian's `chromium`: without it each test prints one skip line, or fails under
//! `TRANSPORT_BENCH_REQUIRE_PEERS=1`. Each run is bounded by the runner's phase bounds plus a
//! test deadline.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use transport_bench::runner::{self, Progress};
use transport_bench::scenario::{self, Client};
use transport_test_support::peers;

/// Bound on one browser run (Chromium start, connect, load, drain, close).
const RUN_BOUND: Duration = Duration::from_secs(90);

fn run_over_https(transport: &str, extra: &str) -> transport_bench::results::RunResult {
    let text = format!(
        r#"
name = "browser-h2"
description = "seven browser subscribers over https and HTTP/2"
transports = ["{transport}"]
baseline = false
duration = "2s"
warmup = "500ms"
rate_per_sec = 100
payload = "64B"
[server]
mode = "in-process"
[tls]
enabled = true
[browser]
subscribers = 7
{extra}
"#
    );
    let s = scenario::load_str(&text, Path::new("browser-h2.toml")).unwrap();
    let spec = s
        .expand()
        .into_iter()
        .find(|r| r.client == Client::Browser)
        .expect("a browser cell");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(
            RUN_BOUND,
            runner::run_cell(&runner::RunCtx::new(
                &s,
                &spec,
                "browserh2",
                &Progress::new(true),
            )),
        )
        .await
        .expect("browser run finished within its bound")
    })
    .result
}

/// Every message reached all seven subscribers, and the server saw the page's subscribers on
/// one connection beside the publisher's.
fn assert_seven_over_one_connection(r: &transport_bench::results::RunResult) {
    assert!(r.failures.is_empty(), "{}: {:?}", r.name, r.failures);
    assert_eq!(r.delivery.lost, 0, "{}", r.name);
    assert!(r.delivery.published >= 150, "{}", r.name);
    assert_eq!(r.delivery.delivered, 7 * r.delivery.published, "{}", r.name);
    let server = r.traffic.wire.server.expect("an in-process server counts");
    let publishers = r.traffic.wire.publisher.connections;
    assert_eq!(
        server.connections - publishers,
        1,
        "{}: seven subscribers, one HTTP/2 connection ({server:?}, publishers {publishers})",
        r.name
    );
}

#[test]
fn seven_event_sources_share_one_https_h2_connection() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    assert_seven_over_one_connection(&run_over_https("sse", ""));
}

#[test]
fn seven_long_polls_share_one_https_h2_connection() {
    if !peers::present(&peers::CHROMIUM) {
        return;
    }
    let options = "[transport.long-poll]\nencoding = \"json\"\nhold_timeout = \"5s\"";
    assert_seven_over_one_connection(&run_over_https("long-poll", options));
}
