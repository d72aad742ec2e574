//! A thousand connections that each complete the upgrade and then send a binary frame header
//! declaring the largest message allowed (`max_message_bytes`, 1 MiB by default, in the
//! 64-bit length form), 16 bytes of it, and hold still: the server's resident memory stays
//! under the stated bound and a well-behaved publisher and subscriber are still served. Alone
//! in its binary, so the process's memory is this test's.

use transport_test_support::claims::hold_claims;
use transport_websocket::{WebSocket, WebSocketConfig};

/// Bound on resident growth for the thousand claims: 256 MiB, about 256 KiB a connection
/// (the read buffer each connection is configured with is 128 KiB); reserving each declared
/// message would be 1 GiB.
const BOUND_KIB: u64 = 256 * 1024;

fn claim(max_message: usize) -> Vec<u8> {
    let mut c = b"GET /topics/claims/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        .to_vec();
    // FIN + binary; masked, 64-bit length; the mask key; then 16 bytes.
    c.extend_from_slice(&[0x82, 0xFF]);
    c.extend_from_slice(&(max_message as u64).to_be_bytes());
    c.extend_from_slice(&[1, 2, 3, 4]);
    c.extend_from_slice(&[0xAB; 16]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_message_claims_are_held_in_bounded_memory() {
    let config = WebSocketConfig::default();
    hold_claims::<WebSocket>(&config, |_| claim(config.max_message_bytes), BOUND_KIB).await;
}
