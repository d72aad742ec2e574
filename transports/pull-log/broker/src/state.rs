//! What every connection shares: options, topics, the group coordinator, counters, the
//! producer id allocator and the shutdown signal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use transport_core::{Counter, Counters};

use crate::config::BrokerConfig;
use crate::group::Coordinator;
use crate::topics::Topics;

/// The broker's node id: it is the only node, leader of every partition and coordinator of
/// every group.
pub(crate) const NODE_ID: i32 = 0;

/// Counter handles, registered once.
#[derive(Debug)]
pub(crate) struct BrokerCounters {
    pub(crate) produce_requests: Counter,
    pub(crate) produced_batches: Counter,
    pub(crate) duplicate_batches: Counter,
    pub(crate) sequence_errors: Counter,
    pub(crate) fetches: Counter,
    pub(crate) empty_fetches: Counter,
    pub(crate) parked_fetches: Counter,
    pub(crate) rebalances: Counter,
    pub(crate) malformed_requests: Counter,
    pub(crate) abandoned_requests: Counter,
}

impl BrokerCounters {
    pub(crate) fn register(c: &Counters) -> Self {
        BrokerCounters {
            produce_requests: c.counter("server_produce_requests"),
            produced_batches: c.counter("server_produced_batches"),
            duplicate_batches: c.counter("server_duplicate_batches"),
            sequence_errors: c.counter("server_sequence_errors"),
            fetches: c.counter("server_fetches"),
            empty_fetches: c.counter("server_empty_fetches"),
            parked_fetches: c.counter("server_parked_fetches"),
            rebalances: c.counter("server_rebalances"),
            malformed_requests: c.counter("server_malformed_requests"),
            abandoned_requests: c.counter("server_abandoned_requests"),
        }
    }
}

/// State shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: BrokerConfig,
    pub(crate) topics: Topics,
    pub(crate) groups: Coordinator,
    pub(crate) counters: BrokerCounters,
    /// Hands out idempotent producer ids.
    pub(crate) producer_ids: ProducerIds,
    /// Becomes `true` when the broker shuts down; parked requests return at once.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// A graceful stop's state: produces refused, fetches served until quiet.
    pub(crate) drain: transport_core::Drain,
}

/// The producer id allocator.
#[derive(Debug)]
pub(crate) struct ProducerIds {
    /// The first id this broker process handed out.
    first: i64,
    next: AtomicI64,
}

impl ProducerIds {
    /// Starts at the wall clock in milliseconds, so a restarted broker (which has forgotten all
    /// producer state) does not hand out an id an earlier run gave to a producer still running.
    pub(crate) fn new() -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        ProducerIds {
            first: now_ms,
            next: AtomicI64::new(now_ms),
        }
    }

    /// A new producer id.
    pub(crate) fn fresh(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `id` was handed out by this process.
    pub(crate) fn ours(&self, id: i64) -> bool {
        id >= self.first && id < self.next.load(Ordering::Relaxed)
    }
}

/// Per-connection facts handlers need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    /// The address the client connected to: what Metadata and FindCoordinator advertise.
    pub(crate) local: SocketAddr,
}

/// Resolves once the broker is shutting down (immediately if it already is).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means shutdown.
    let _ = rx.wait_for(|s| *s).await;
}
