//! What every connection task of one WebSocket server shares: its epoch, configuration,
//! topics, publisher sessions and counters. The accept loop (`server`) builds it; the
//! subscriber and publisher loops read it, so it sits beside them rather than above them.

use tokio_util::sync::CancellationToken;
use transport_core::session::Sessions;
use transport_core::{Counter, Counters, ServerContext};

use super::topic::{FanoutCounters, Topics};
use crate::WebSocketConfig;

/// Server-side counters (names prefixed `server_`).
#[derive(Debug, Clone)]
pub(crate) struct ServerCounters {
    pub(crate) frames: Counter,
    pub(crate) pings: Counter,
    pub(crate) pongs: Counter,
    pub(crate) control_bytes: Counter,
    pub(crate) pong_timeouts: Counter,
    pub(crate) write_stalls: Counter,
    pub(crate) oversize_closes: Counter,
    pub(crate) gap_refusals: Counter,
    pub(crate) resumes: Counter,
    pub(crate) replayed_messages: Counter,
    pub(crate) epoch_resets: Counter,
    pub(crate) rejected_upgrades: Counter,
    pub(crate) session_resumes: Counter,
    pub(crate) session_refusals: Counter,
    pub(crate) session_busy: Counter,
    pub(crate) superseded: Counter,
}

impl ServerCounters {
    pub(super) fn new(c: &Counters) -> Self {
        ServerCounters {
            frames: c.counter("server_frames"),
            pings: c.counter("server_pings"),
            pongs: c.counter("server_pongs"),
            control_bytes: c.counter("server_control_bytes"),
            pong_timeouts: c.counter("server_pong_timeouts"),
            write_stalls: c.counter("server_write_stalls"),
            oversize_closes: c.counter("server_oversize_closes"),
            gap_refusals: c.counter("server_gap_refusals"),
            resumes: c.counter("server_resumes"),
            replayed_messages: c.counter("server_replayed_messages"),
            epoch_resets: c.counter("server_epoch_resets"),
            rejected_upgrades: c.counter("server_rejected_upgrades"),
            session_resumes: c.counter("server_session_resumes"),
            session_refusals: c.counter("server_session_refusals"),
            session_busy: c.counter("server_session_busy"),
            superseded: c.counter("server_superseded_publishers"),
        }
    }
}

/// What every connection task of one server shares.
pub(crate) struct Shared {
    /// This server's epoch: random per start, so subscribers can tell a restarted server's
    /// positions from the ones they hold ([`crate::proto`]).
    pub(crate) epoch: u64,
    pub(crate) config: WebSocketConfig,
    pub(crate) ctx: ServerContext,
    pub(crate) topics: Topics,
    /// Publisher sessions by topic and id (the same id on another topic is another session):
    /// what each has had accepted, which connection serves it.
    pub(crate) sessions: Sessions<(String, u64)>,
    pub(crate) cancel: CancellationToken,
    pub(crate) fanout: FanoutCounters,
    pub(crate) counters: ServerCounters,
}
