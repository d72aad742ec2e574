//! A thousand publisher connections that each send their hello and then a frame header
//! declaring the largest frame allowed (`max_frame_bytes`, 16 MiB by default), 16 bytes of it,
//! and hold still: the server's resident memory stays under the stated bound and a
//! well-behaved publisher and subscriber are still served. Alone in its binary, so the
//! process's memory is this test's.

use transport_raw_tcp::{RawTcp, RawTcpConfig};
use transport_test_support::claims::hold_claims;

/// Bound on resident growth for the thousand claims: 64 MiB, about 64 KiB a connection;
/// reserving each declared frame would be 16 GiB.
const BOUND_KIB: u64 = 64 * 1024;

/// Each claimant is a publisher of its own session (one session's newer connection would
/// supersede the older).
/// Bound on address-space growth: 1 GiB (a 64 KiB chunk a connection, and the allocator's
/// per-thread arenas).
const VIRTUAL_BOUND_KIB: u64 = 1024 * 1024;

fn claim(i: usize, max_frame: usize) -> Vec<u8> {
    let mut hello = vec![b'P'];
    hello.extend_from_slice(&(i as u64 + 1).to_be_bytes());
    hello.extend_from_slice(b"claims");
    let mut c = (hello.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(&hello);
    c.extend_from_slice(&(max_frame as u32).to_be_bytes());
    c.extend_from_slice(&[0xAB; 16]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_frame_claims_are_held_in_bounded_memory() {
    let config = RawTcpConfig::default();
    let held =
        hold_claims::<RawTcp>(&config, |i| claim(i, config.max_frame_bytes), BOUND_KIB).await;
    // The regression this test found: the declared length was reserved at once, 16 GiB of
    // address space for the thousand claims (RSS stayed low only because the pages were never
    // written).
    let virtual_kib = held.vm_held_kib.saturating_sub(held.vm_before_kib);
    assert!(
        virtual_kib < VIRTUAL_BOUND_KIB,
        "address space grew by {virtual_kib} KiB"
    );
}
