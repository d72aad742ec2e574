//! The embedded broker: a thousand connections that each send a size prefix declaring the
//! largest request allowed (`max_request_bytes`, 16 MiB by default), the first bytes of a
//! request header, and hold still: resident memory stays under the stated bound and a
//! well-behaved publisher and subscriber are still served. Alone in its binary, so the
//! process's memory is this test's.

use transport_pull_log::{PullLog, PullLogConfig};
use transport_test_support::claims::hold_claims;

/// Bound on resident growth for the thousand claims: 128 MiB, about 128 KiB a connection
/// (each has a 64 KiB read buffer and a 64 KiB write buffer); reserving each declared request
/// would be 16 GiB.
const BOUND_KIB: u64 = 128 * 1024;

fn claim(max_request: u32) -> Vec<u8> {
    let mut c = max_request.to_be_bytes().to_vec();
    // Produce v7, correlation id 1, and the start of a client id.
    c.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 1, 0, 4, b'f', b'u']);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_request_claims_are_held_in_bounded_memory() {
    let config = PullLogConfig::default();
    hold_claims::<PullLog>(
        &config,
        |_| claim(config.broker.max_request_bytes),
        BOUND_KIB,
    )
    .await;
}
