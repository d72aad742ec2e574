//! A graceful stop that loses nothing (`SIGTERM`, a `server-restart` with `signal = "term"`),
//! for servers that keep a log subscribers read from (long-poll, sse, the pull-log broker).
//!
//! A memory server takes its log with it, and a restarted one begins an unrelated log, so
//! whatever a subscriber had not fetched when the old server went is lost. Draining first
//! closes that gap: publishes are refused with an error the publishers retry (long-poll and
//! sse answer 503; the broker answers NOT_LEADER_OR_FOLLOWER, as a Kafka broker moving its
//! partitions away does), so what they had not had confirmed goes to the next server; and
//! polls, streams and fetches keep being served until no data has gone out for a quiet spell
//! (every subscriber has caught up with a log that no longer grows), within a bound. Only then
//! are connections closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock;

/// No data out for this long: every subscriber has fetched what the log holds.
pub const QUIET: Duration = Duration::from_millis(400);
/// Longest a drain waits for quiet.
pub const MAX_DRAIN: Duration = Duration::from_secs(5);

/// Shared by the routes and the server's stop.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    /// When data last went out to a subscriber, clock ns.
    last_data_ns: AtomicU64,
}

impl Drain {
    /// Whether publishes are being refused.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Data went out to a subscriber now (a poll reply with messages, events on a stream, a
    /// fetch with records).
    pub fn delivered(&self) {
        self.last_data_ns.store(clock::now_ns(), Ordering::Relaxed);
    }

    /// Refuses publishes from now on and returns once no data has gone out for [`QUIET`]
    /// (after at least that long), or after [`MAX_DRAIN`].
    pub async fn run(&self) {
        self.draining.store(true, Ordering::Relaxed);
        let started = clock::now_ns();
        let quiet = QUIET.as_nanos() as u64;
        let bound = started + MAX_DRAIN.as_nanos() as u64;
        loop {
            let now = clock::now_ns();
            let last = self.last_data_ns.load(Ordering::Relaxed).max(started);
            if now >= last + quiet || now >= bound {
                return;
            }
            tokio::time::sleep(Duration::from_nanos(last + quiet - now)).await;
        }
    }
}
