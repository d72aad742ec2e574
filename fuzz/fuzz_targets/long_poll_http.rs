//! A long-poll server connection's input as it arrives, in pieces: hyper's HTTP/1.1 parser,
//! the per-connection publisher session, and the routes: publish bodies (binary frames and
//! JSON), the session header, poll cursors, `max`, `timeout_ms`, `epoch`, head, and whatever
//! else a client may send. Pipelined requests share one server, so publishes feed later
//! polls. Seeded with what our long-poll clients and curl send. Invariants: no panic (the
//! connection runs its handlers in its own future, so a handler's panic reaches the target),
//! the connection finishes within virtual time once the input ends and the server stops, and
//! no request allocates past 64 MiB (64 KiB body limit).
#![no_main]

use std::time::Duration;

use fuzz_support::{Pieces, block_on, cap_allocations};
use libfuzzer_sys::fuzz_target;
use transport_long_poll::LongPollConfig;
use transport_long_poll::fuzzing::{app, serve_io};

cap_allocations!(64 << 20);

fuzz_target!(|data: &[u8]| {
    let config = LongPollConfig {
        max_body_bytes: 64 * 1024,
        ..LongPollConfig::default()
    };
    block_on(async {
        let (app, shutdown) = app(&config, |_| axum::Router::new());
        let serve = serve_io(Pieces::varied(data), app, shutdown.clone());
        tokio::pin!(serve);
        // Held polls end by their timeout (at most 60 s); past that, shut down as a server
        // does, which must end the connection.
        if tokio::time::timeout(Duration::from_secs(120), &mut serve)
            .await
            .is_err()
        {
            shutdown.cancel();
            serve.await;
        }
    });
});
