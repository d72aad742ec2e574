//! The long-poll bodies in both encodings, as each side reads them: the server's publish
//! decoder (binary frames, JSON with base64), and the client's decoders of a hostile server's
//! replies (poll batches, `400` "ahead" and error bodies, the `server-epoch` header).
//! Invariants: decode → encode → decode gives the same messages and cursor in both encodings,
//! binary decode → encode gives the same bytes, and no length makes a decoder allocate past
//! 16 MiB from a 64 KiB body.
#![no_main]

use bytes::Bytes;
use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_long_poll::Encoding;
use transport_long_poll::codec::*;
use transport_long_poll::epoch;

cap_allocations!(16 << 20);

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(&data[..data.len().min(64 * 1024)]);
    for encoding in [Encoding::Binary, Encoding::Json] {
        if let Ok(msgs) = decode_publish(encoding, &body) {
            let again = encode_publish(encoding, &msgs);
            assert_eq!(
                decode_publish(encoding, &again),
                Ok(msgs),
                "publish round trip"
            );
            if encoding == Encoding::Binary {
                assert_eq!(again, body, "binary publish bytes");
            }
        }
        if let Ok((cursor, msgs)) = decode_batch(encoding, &body) {
            let again = encode_batch(encoding, cursor, &msgs);
            assert_eq!(
                decode_batch(encoding, &again),
                Ok((cursor, msgs)),
                "batch round trip"
            );
            if encoding == Encoding::Binary {
                assert_eq!(again, body, "binary batch bytes");
            }
        }
    }
    let _ = decode_frames(&body);
    if let Some((head, earliest)) = decode_ahead(&body) {
        let again = encode_ahead("ahead", head, earliest);
        assert_eq!(decode_ahead(&again), Some((head, earliest)));
    }
    let (message, earliest) = decode_error(&body);
    if earliest.is_some() {
        let again = encode_error(&message, earliest);
        assert_eq!(
            decode_error(&again),
            (message, earliest),
            "error round trip"
        );
    }
    let _ = epoch::parse(&body);
});
