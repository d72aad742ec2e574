//! An SSE server connection's input as it arrives, in pieces: hyper's HTTP/1.1 parser, the
//! events route (`Last-Event-ID` header, `last_event_id` and `from` query, the topic) and the
//! long-poll routes it shares (publish bodies, sessions, cursors), and whatever else a client
//! may send. Pipelined requests share one server, so publishes feed later polls and streams.
//! Seeded with what our SSE clients and curl send. Invariants: no panic (the connection runs
//! its handlers in its own future, so a handler's panic reaches the target), the connection
//! finishes within virtual time once the input ends and the server stops, and no request
//! allocates past 64 MiB (64 KiB body limit).
#![no_main]

use std::time::Duration;

use fuzz_support::{Pieces, block_on, cap_allocations};
use libfuzzer_sys::fuzz_target;
use transport_long_poll::fuzzing::serve_io;
use transport_sse::SseConfig;
use transport_sse::fuzzing::app;

cap_allocations!(64 << 20);

fuzz_target!(|data: &[u8]| {
    let config = SseConfig {
        max_body_bytes: 64 * 1024,
        ..SseConfig::default()
    };
    block_on(async {
        let (app, shutdown) = app(&config);
        let serve = serve_io(Pieces::varied(data), app, shutdown.clone());
        tokio::pin!(serve);
        // Streams never end by themselves, held polls by their timeout; past 120 s, shut down
        // as a server does, which must end both.
        if tokio::time::timeout(Duration::from_secs(120), &mut serve)
            .await
            .is_err()
        {
            shutdown.cancel();
            serve.await;
        }
    });
});
