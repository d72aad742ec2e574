//! Options shared by the tests that run our long-poll clients: short holds and fast retries.
//! (Raw HTTP helpers are in `http.rs`, which the tests that speak HTTP themselves include;
//! bounded waits, messages and receive loops come from `transport-test-support`.)

use std::time::Duration;

use transport_long_poll::LongPollConfig;

/// Short holds and fast retries, so restarts and cuts resolve quickly.
pub fn config() -> LongPollConfig {
    LongPollConfig {
        hold_timeout: Duration::from_millis(500),
        reconnect_base: Duration::from_millis(5),
        reconnect_cap: Duration::from_millis(50),
        ..LongPollConfig::default()
    }
}
