//! The subscriber: a Kafka consumer whose `recv` is one poll, normally one Fetch response.
//!
//! Without a group, a subscriber reads every partition of its topic from the log-end offsets
//! it saw when it subscribed, so it receives every message published afterwards. With a group,
//! [`crate::group::Membership`] decides which partitions it reads and where each starts, and
//! the subscriber commits what it has handed to the harness (per `commit`).
//!
//! A fetch asks for all partitions at once with `fetch_min_bytes` / `fetch_max_wait`, so the
//! broker parks it until enough data is there. Records beyond `max_records_per_poll` stay
//! buffered for the next `recv`. If the connection breaks, the subscriber reconnects and
//! fetches again from its own positions: nothing is lost, nothing repeated.
//!
//! Positions are tagged with the topic id (the log's incarnation) they were read under. Every
//! reconnect starts with Metadata; if the id changed (a memory broker restarted, the topic was
//! recreated), the positions belong to a log that is gone and all of them go to the new log's
//! start, counted in `epoch_resets`. Without that check, a restarted broker that already holds
//! more records than the old position would be resumed in its middle, silently skipping its
//! first records. So a Fetch only goes out on a connection whose Metadata the positions' id
//! has been compared with; if that check fails, the connection is dropped and the subscriber
//! reconnects and checks again. A position the broker reports out of range (the log was
//! truncated, or a broker without topic ids restarted empty) restarts at the log start too
//! (`offset_resets`).
//! Submodules: `fetch.rs` (request, round trip with reconnects, decoding), `resets.rs` (both
//! resets).

mod fetch;
mod resets;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use transport_core::{ClientContext, Counter, Distribution, Subscriber, TransportError};

use crate::cluster::{self, TopicMeta};
use crate::config::{CommitMode, PullLogConfig, max_response_bytes};
use crate::conn::Conn;
use crate::group::Membership;
use crate::incarnation::{Seen, TopicId};
use crate::with_timeout;

/// The pull-log subscriber (see the module docs).
pub struct PullLogSubscriber {
    config: PullLogConfig,
    addr: String,
    topic: String,
    ctx: ClientContext,
    /// The fetch connection; `None` after a failure until a reconnect opens another. Taken out
    /// while in use, so whatever fails there drops it: a response still due on it is never
    /// read as the answer to a later request.
    conn: Option<FetchConn>,
    /// Next offset to fetch, per assigned partition.
    positions: Vec<(i32, i64)>,
    /// The topic id `positions` were read under; `None` while the broker sends none.
    topic_id: Option<TopicId>,
    /// The newest topic id seen, shared with the group task; counts `epoch_resets`.
    seen: Arc<Seen>,
    /// Fetched but not yet returned: (partition, offset, value).
    buffered: VecDeque<(i32, i64, Bytes)>,
    group: Option<GroupState>,
    fetches: Counter,
    empty_fetches: Counter,
    records_per_fetch: Distribution,
    reconnects: Counter,
    offset_resets: Counter,
}

/// A connection to fetch on and the topic as its Metadata last described it, which is what
/// the positions' topic id must agree with before a fetch goes out on it.
struct FetchConn {
    conn: Conn,
    meta: TopicMeta,
    /// Whether `meta` was asked since the last fetch on this connection (after that, the
    /// broker behind it may have gone).
    fresh: bool,
}

impl FetchConn {
    /// Asks the broker behind this connection for the topic's Metadata again.
    async fn refresh(
        &mut self,
        topic: &str,
        limit: std::time::Duration,
    ) -> Result<(), TransportError> {
        self.meta = with_timeout(
            "metadata",
            limit,
            cluster::topic_meta(&mut self.conn, topic, limit),
        )
        .await?;
        self.fresh = true;
        Ok(())
    }
}

/// What a group member tracks beyond its positions.
struct GroupState {
    membership: Membership,
    /// The assignment `positions` belong to ([`crate::assign::Assignment::seq`]).
    seq: u64,
    /// Whether records were returned since the last commit.
    uncommitted: bool,
    last_commit: Instant,
}

impl PullLogSubscriber {
    /// Connects, looks up the topic and resolves start offsets (joining the group if any).
    pub(crate) async fn connect(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<Self, TransportError> {
        let (mut conn, meta) = with_timeout(
            "subscribe",
            config.request_timeout,
            open(config, addr, topic, &ctx),
        )
        .await?;
        let positions = match &config.group {
            None => {
                with_timeout(
                    "subscribe",
                    config.request_timeout,
                    cluster::end_offsets(&mut conn, topic, &meta.partitions),
                )
                .await?
            }
            // The group assigns them.
            Some(_) => Vec::new(),
        };
        let mut sub = PullLogSubscriber {
            config: config.clone(),
            addr: addr.to_owned(),
            topic: topic.to_owned(),
            ctx: ctx.clone(),
            conn: Some(FetchConn {
                conn,
                meta: meta.clone(),
                fresh: true,
            }),
            positions,
            topic_id: meta.id,
            seen: Arc::new(Seen::new(meta.id, ctx.counters.counter("epoch_resets"))),
            buffered: VecDeque::new(),
            group: None,
            fetches: ctx.counters.counter("fetches"),
            empty_fetches: ctx.counters.counter("empty_fetches"),
            records_per_fetch: ctx.counters.distribution("records_per_fetch"),
            reconnects: ctx.counters.counter("subscriber_reconnects"),
            offset_resets: ctx.counters.counter("offset_resets"),
        };
        if let Some(group) = &config.group {
            let seen = sub.seen.clone();
            let membership = Membership::join(config, addr, topic, group, &ctx, meta, seen).await?;
            sub.group = Some(GroupState {
                membership,
                seq: 0,
                uncommitted: false,
                last_commit: Instant::now(),
            });
            sub.follow_assignment();
        }
        Ok(sub)
    }

    /// Adopts a new assignment if the membership has one; returns false while revoked.
    fn follow_assignment(&mut self) -> bool {
        let Some(g) = &mut self.group else {
            return true;
        };
        let shared = g.membership.lock();
        let Some(a) = &shared.assignment else {
            return false;
        };
        if a.seq != g.seq {
            g.seq = a.seq;
            self.positions = a.partitions.clone();
            self.topic_id = a.topic_id;
            self.buffered.clear();
        }
        true
    }

    /// Waits until the group task has made an assignment numbered above `seq` (tests: "the
    /// member has rejoined"); returns its number.
    #[cfg(test)]
    pub(crate) async fn assignment_after(&mut self, seq: u64) -> Result<u64, TransportError> {
        let Some(g) = &mut self.group else {
            return Err(TransportError::Config("not a group member".into()));
        };
        loop {
            if let Some(a) = g
                .membership
                .lock()
                .assignment
                .as_ref()
                .filter(|a| a.seq > seq)
            {
                return Ok(a.seq);
            }
            // Woken by every assignment change; the caller bounds the whole wait.
            g.membership
                .changed(std::time::Duration::from_secs(3600))
                .await?;
        }
    }

    /// Commits per the `commit` option before the next fetch.
    async fn maybe_commit(&mut self) -> Result<(), TransportError> {
        let mode = self.config.commit;
        let interval = self.config.auto_commit_interval;
        let Some(g) = &mut self.group else {
            return Ok(());
        };
        let due = match mode {
            CommitMode::None => false,
            CommitMode::AfterBatch => g.uncommitted,
            CommitMode::Auto => g.uncommitted && g.last_commit.elapsed() >= interval,
        };
        if due {
            g.membership.commit(mode == CommitMode::AfterBatch).await?;
            g.uncommitted = false;
            g.last_commit = Instant::now();
        }
        Ok(())
    }

    /// Moves up to `max_records_per_poll` buffered records to `out`.
    fn deliver(&mut self, out: &mut Vec<Bytes>) -> usize {
        let max = self.config.max_records_per_poll.unwrap_or(usize::MAX);
        let n = self.buffered.len().min(max);
        if let Some(g) = &mut self.group {
            // Under the membership lock: a revocation either sees these offsets as consumed
            // (and commits them) or happens first and these records are dropped unreturned.
            let mut shared = g.membership.lock();
            if shared.assignment.as_ref().map(|a| a.seq) != Some(g.seq) {
                self.buffered.clear();
                return 0;
            }
            for (p, offset, _) in self.buffered.iter().take(n) {
                shared.consumed.insert(*p, offset + 1);
            }
            g.uncommitted |= n > 0;
        }
        out.extend(self.buffered.drain(..n).map(|(_, _, v)| v));
        n
    }
}

/// Connects to `addr` and looks up `topic` (partitions and topic id): the handshake of every
/// subscriber connection, first or after a reconnect.
async fn open(
    config: &PullLogConfig,
    addr: &str,
    topic: &str,
    ctx: &ClientContext,
) -> Result<(Conn, TopicMeta), TransportError> {
    let client_id = format!("pull-log-sub-{}", ctx.client_index);
    let mut conn = Conn::connect(addr, ctx, client_id, max_response_bytes(config)).await?;
    let meta = cluster::topic_meta(&mut conn, topic, config.request_timeout).await?;
    conn.end_handshake();
    Ok((conn, meta))
}

impl Subscriber for PullLogSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        if !self.buffered.is_empty() && self.follow_assignment() {
            return Ok(self.deliver(out));
        }
        self.maybe_commit().await?;
        if !self.follow_assignment() || self.positions.is_empty() {
            // Revoked (rebalancing) or nothing assigned: an empty poll after waiting a while.
            if let Some(g) = &mut self.group {
                g.membership.changed(self.config.fetch_max_wait).await?;
            }
            return Ok(0);
        }
        let resp = self.fetch().await?;
        let (n, out_of_range, refresh) = self.absorb(resp)?;
        if refresh || !out_of_range.is_empty() {
            self.repair(out_of_range, refresh).await?;
        }
        self.fetches.inc();
        if n == 0 {
            self.empty_fetches.inc();
        }
        self.records_per_fetch.record(n as u64);
        Ok(self.deliver(out))
    }

    async fn close(mut self) -> Result<(), TransportError> {
        if let Some(mut g) = self.group.take() {
            if self.config.commit != CommitMode::None && g.uncommitted {
                g.membership.commit(true).await?;
            }
            g.membership.leave().await?;
        }
        if let Some(c) = &mut self.conn {
            c.conn.shutdown().await;
        }
        Ok(())
    }
}
