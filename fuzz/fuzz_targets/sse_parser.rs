//! The SSE client's event-stream parser, reading what a hostile server sends. Seeded with
//! what our SSE server sends. Invariants: the events do not depend on where the stream was
//! cut (one whole feed against byte-by-byte and against the pieces a network might give), a
//! line longer than the limit is refused before it is buffered, and so is an event whose data
//! lines add up past it (1 KiB limit; 1 MiB allocation limit).
#![no_main]

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_sse::parser::{Event, Parser};

cap_allocations!(1 << 20);

const MAX_LINE: usize = 1024;

/// Feeds `pieces` in order; the events, or `None` once the parser refused a line.
fn parse<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Option<Vec<Event>> {
    let mut parser = Parser::new(MAX_LINE);
    let mut events = Vec::new();
    for p in pieces {
        parser.feed(p, &mut events).ok()?;
    }
    for e in &events {
        assert!(
            e.data.len() <= MAX_LINE,
            "an event of {} bytes passed the limit",
            e.data.len()
        );
    }
    Some(events)
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(std::iter::once(data));
    let bytes = parse(data.chunks(1));
    let pieces = parse(data.chunks(7));
    assert_eq!(whole, bytes, "events differ fed whole and byte by byte");
    assert_eq!(
        whole, pieces,
        "events differ fed whole and in 7-byte pieces"
    );
});
