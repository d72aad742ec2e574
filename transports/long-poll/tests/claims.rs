//! A thousand connections that each send a publish request whose `Content-Length` declares
//! the largest body allowed (`max_body_bytes`, 1 MiB by default), 16 bytes of it, and hold
//! still: the server's resident memory stays under the stated bound and a well-behaved
//! publisher and subscriber are still served. Alone in its binary, so the process's memory is
//! this test's.

use transport_long_poll::{LongPoll, LongPollConfig};
use transport_test_support::claims::hold_claims;

/// Bound on resident growth for the thousand claims: 64 MiB, about 64 KiB a connection;
/// reserving each declared body would be 1 GiB.
const BOUND_KIB: u64 = 64 * 1024;

fn claim(max_body: u32) -> Vec<u8> {
    let mut c = format!(
        "POST /topics/claims/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\
Content-Type: application/octet-stream\r\nContent-Length: {max_body}\r\n\r\n"
    )
    .into_bytes();
    c.extend_from_slice(&[0xAB; 16]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_body_claims_are_held_in_bounded_memory() {
    let config = LongPollConfig::default();
    hold_claims::<LongPoll>(&config, |_| claim(config.max_body_bytes), BOUND_KIB).await;
}
