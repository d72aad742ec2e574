//! The WebSocket server's upgrade request: the request head (httparse), the headers the
//! handshake needs (`Upgrade`, `Connection`, `Sec-WebSocket-Version`, `Sec-WebSocket-Key`) and
//! the route in the request target (topic, `from`, `epoch`, `session`). Invariants: a parsed
//! head never claims more bytes than given, an accepted upgrade carries a valid key (so its
//! accept value is 28 base64 characters) and a route that names a valid topic.
#![no_main]

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_websocket::fuzzing::{MAX_HEAD_BYTES, parse_head};
use transport_websocket::proto::{Route, valid_topic};

cap_allocations!(1 << 20);

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_HEAD_BYTES)];
    let Some((len, checked)) = parse_head(data) else {
        return;
    };
    assert!(len <= data.len());
    if let Ok((route, accept)) = checked {
        assert_eq!(
            accept.len(),
            28,
            "Sec-WebSocket-Accept is base64 of 20 bytes"
        );
        let topic = match route {
            Route::Subscribe { topic, .. } | Route::Publish { topic, .. } => topic,
        };
        assert!(valid_topic(&topic));
    }
});
