//! The broker's request handling, one connection's worth of requests: header, version table,
//! the hostile-count guard, kafka-protocol's decoders and every handler (ApiVersions … Fetch,
//! the group APIs). Requests are shaped (a real API key and a version in its range, the header
//! in the layout that version uses) or raw, so both the decoders and the dispatcher's refusals
//! are reached. Invariants: bounded allocation (1 MiB requests, 64 MiB limit); every request is
//! answered with a frame carrying its correlation id, or nothing (acks = 0), or a clean close
//! that is not our own encoder failing; nothing hangs (virtual time).
#![no_main]

use arbitrary::Arbitrary;
use bytes::{BufMut, Bytes, BytesMut};
use fuzz_support::{block_on, cap_allocations};
use libfuzzer_sys::fuzz_target;
use transport_pull_log_broker::BrokerConfig;
use transport_pull_log_broker::fuzzing::{Handler, Outcome, apis};

cap_allocations!(64 << 20);

const MAX_REQUEST_BYTES: u32 = 1 << 20;

#[derive(Arbitrary, Debug)]
enum Request {
    /// A frame as is.
    Raw(Vec<u8>),
    /// A header the dispatcher accepts, then any body.
    Shaped {
        api: u8,
        version: u8,
        correlation_id: i32,
        client_id: Option<String>,
        /// Header tagged fields of a flexible version (empty: none).
        tags: Vec<u8>,
        body: Vec<u8>,
    },
}

fn encode(req: &Request) -> (Bytes, Option<i32>) {
    let (api, version, correlation_id, client_id, tags, body) = match req {
        Request::Raw(b) => return (Bytes::copy_from_slice(b), None),
        Request::Shaped {
            api,
            version,
            correlation_id,
            client_id,
            tags,
            body,
        } => (*api, *version, *correlation_id, client_id, tags, body),
    };
    let table = apis();
    let (key, min, max, flexible_from) = table[api as usize % table.len()];
    // Mostly in range; now and then one past either end, which must be refused cleanly.
    let version = match version {
        254 => min - 1,
        255 => max + 1,
        v => min + (v as i16 % (max - min + 1)),
    };
    let mut b = BytesMut::new();
    b.put_i16(key);
    b.put_i16(version);
    b.put_i32(correlation_id);
    match client_id {
        Some(id) => {
            let id = &id.as_bytes()[..id.len().min(i16::MAX as usize)];
            b.put_i16(id.len() as i16);
            b.put_slice(id);
        }
        None => b.put_i16(-1),
    }
    if version >= flexible_from {
        if tags.is_empty() {
            b.put_u8(0);
        } else {
            b.put_slice(tags);
        }
    }
    b.put_slice(body);
    (b.freeze(), Some(correlation_id))
}

fn check(frame: &[u8], outcome: &Outcome) {
    match outcome {
        Outcome::Frame(resp) => {
            assert!(resp.len() >= 8, "a response frame of {} bytes", resp.len());
            let size = i32::from_be_bytes(resp[..4].try_into().unwrap());
            assert_eq!(size as usize, resp.len() - 4, "size prefix");
            assert!(
                frame.len() >= 8,
                "a {}-byte request was answered",
                frame.len()
            );
            let cid = i32::from_be_bytes(resp[4..8].try_into().unwrap());
            let asked = i32::from_be_bytes(frame[4..8].try_into().unwrap());
            assert_eq!(cid, asked, "correlation id");
        }
        Outcome::Nothing => {}
        Outcome::Close(why) => assert!(!why.contains("encode"), "our encoder failed: {why}"),
    }
}

fuzz_target!(|requests: Vec<Request>| {
    let config = BrokerConfig {
        max_request_bytes: MAX_REQUEST_BYTES,
        initial_rebalance_delay_ms: 100,
        ..BrokerConfig::default()
    };
    let handler = Handler::new(config).expect("a valid config");
    block_on(async {
        for req in requests.iter().take(16) {
            let (frame, _) = encode(req);
            if frame.len() > MAX_REQUEST_BYTES as usize {
                continue;
            }
            let outcome = handler.handle(frame.clone()).await;
            check(&frame, &outcome);
            if matches!(outcome, Outcome::Close(_)) {
                break;
            }
        }
    });
});
