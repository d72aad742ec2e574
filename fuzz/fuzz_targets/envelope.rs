//! The harness envelope every transport carries (publisher, sequence, intended and sent
//! times, then padding): what a subscriber decodes from whatever a server delivered.
//! Invariant: decode → encode gives the same header bytes and the same length.
#![no_main]

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_core::envelope::{Envelope, HEADER_LEN};

cap_allocations!(1 << 20);

fuzz_target!(|data: &[u8]| {
    match Envelope::decode(data) {
        Some(e) => {
            // `encode` takes the whole message length, header included.
            let again = e.encode(data.len());
            assert_eq!(again.len(), data.len());
            assert_eq!(
                &again[..HEADER_LEN],
                &data[..HEADER_LEN],
                "header round trip"
            );
            assert_eq!(Envelope::decode(&again), Some(e));
        }
        None => assert!(
            data.len() < HEADER_LEN,
            "a {}-byte message did not decode",
            data.len()
        ),
    }
});
