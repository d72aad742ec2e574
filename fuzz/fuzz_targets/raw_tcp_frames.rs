//! raw-tcp's wire: the length-delimited codec with the hello-sized limit a server applies
//! before the hello, the hello (publisher / subscriber, topic), the hello reply, the sync reply,
//! and the scanner a publisher connection's reads go through. Invariants: decode → encode round
//! trips for hello and ack, the scanner never claims more than the buffer holds nor asks to
//! reserve more than a frame may take, and the codec never buffers past its limit.
#![no_main]

use bytes::BytesMut;
use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use transport_raw_tcp::fuzzing::*;

cap_allocations!(1 << 20);

/// The frame limit and run length the scanner is given here.
const MAX_FRAME: usize = 4096;
const MAX_COUNT: usize = 256;

fuzz_target!(|data: &[u8]| {
    let (max_frame, max_count) = (MAX_FRAME, MAX_COUNT);
    if let Ok((h, topic)) = parse_hello(data) {
        assert_eq!(&hello(h, &topic)[..], data, "hello round trip");
    }
    if let Ok((epoch, position)) = parse_ack(data) {
        assert_eq!(&ack(epoch, position)[..], data, "ack round trip");
    }
    if let Ok(relayed) = parse_sync_reply(data) {
        assert_eq!(&sync_reply_frame(relayed)[FRAME_HEADER_LEN..], data);
    }
    // As the server reads a connection: a hello-sized frame first, then the publisher's
    // relay loop scanning runs of frames and syncs.
    let mut codec = codec(MAX_HELLO_LEN);
    let mut buf = BytesMut::from(data);
    if let Ok(Some(frame)) = codec.decode(&mut buf) {
        assert!(frame.len() <= MAX_HELLO_LEN);
        let _ = parse_hello(&frame);
    }
    let mut rest: &[u8] = &buf;
    while let Ok(scan) = scan_frames(rest, max_frame, max_count) {
        assert!(scan.count <= max_count && scan.len <= rest.len());
        assert!(scan.next_len <= FRAME_HEADER_LEN + max_frame);
        assert!(scan.count == 0 || scan.len >= scan.count * (FRAME_HEADER_LEN + 1));
        if scan.count > 0 {
            rest = &rest[scan.len..];
        } else if scan.sync {
            rest = &rest[FRAME_HEADER_LEN..];
        } else {
            break;
        }
    }
});
