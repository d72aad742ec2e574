//! A broker connection's input as it arrives: the size-prefixed frame reader, in pieces, then
//! each frame through the request handler (header, version table, guard, decoders,
//! handlers). Seeded with what kcat and our pull-log client send. Invariants: no frame over
//! the limit is handed on, frames re-frame to exactly the bytes they came from (decode →
//! encode), a size prefix never allocates ahead of its bytes (64 KiB limit against prefixes
//! that may claim 2 GiB; 64 MiB allocation limit), and every request is answered (a response
//! frame with its correlation id, or nothing for acks = 0) or the connection closes cleanly.
#![no_main]

use bytes::BytesMut;
use fuzz_support::{Pieces, block_on, cap_allocations};
use libfuzzer_sys::fuzz_target;
use transport_pull_log_broker::BrokerConfig;
use transport_pull_log_broker::frame::{FrameError, FrameReader, finish_frame, start_frame};
use transport_pull_log_broker::fuzzing::{Handler, Outcome};

cap_allocations!(64 << 20);

const LIMIT: u32 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let config = BrokerConfig {
        max_request_bytes: LIMIT,
        initial_rebalance_delay_ms: 100,
        ..BrokerConfig::default()
    };
    let handler = Handler::new(config).expect("a valid config");
    let mut io = Pieces::varied(data);
    let mut reader = FrameReader::new(LIMIT);
    let mut reframed = BytesMut::new();
    let (end, closed) = block_on(async {
        loop {
            let frame = match reader.next(&mut io).await {
                Ok(f) => f,
                Err(e) => return (e, false),
            };
            assert!(frame.len() <= LIMIT as usize);
            let start = start_frame(&mut reframed);
            reframed.extend_from_slice(&frame);
            finish_frame(&mut reframed, start).expect("a frame within the limit");
            match handler.handle(frame.clone()).await {
                Outcome::Frame(resp) => {
                    let size = i32::from_be_bytes(resp[..4].try_into().unwrap());
                    assert_eq!(size as usize, resp.len() - 4, "size prefix");
                    assert_eq!(resp[4..8], frame[4..8], "correlation id");
                }
                Outcome::Nothing => {}
                Outcome::Close(why) => {
                    assert!(!why.contains("encode"), "our encoder failed: {why}");
                    return (FrameError::Closed, true);
                }
            }
        }
    });
    assert_eq!(
        &reframed[..],
        &data[..reframed.len()],
        "frames re-encode to their bytes"
    );
    match end {
        FrameError::Closed if !closed => assert_eq!(reframed.len(), data.len()),
        FrameError::Closed => {}
        FrameError::Truncated | FrameError::Size { .. } => assert!(reframed.len() < data.len()),
        FrameError::Io(e) => panic!("in-memory read failed: {e}"),
    }
});
