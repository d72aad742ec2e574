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
//! fetches again from its own positions: nothing is lost, nothing repeated. A position the
//! broker reports out of range (its log restarted empty, or was truncated) restarts at the log
//! start, since everything there is unread.

use std::collections::VecDeque;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;
use transport_core::{ClientContext, Counter, Distribution, Subscriber, TransportError};

use crate::cluster::{self, code};
use crate::config::{CommitMode, PullLogConfig, max_response_bytes, wire_ms};
use crate::conn::Conn;
use crate::group::Membership;
use crate::producer_task::retriable;
use crate::records::decode_records;
use crate::with_timeout;

/// The pull-log subscriber (see the module docs).
pub struct PullLogSubscriber {
    config: PullLogConfig,
    addr: String,
    topic: String,
    ctx: ClientContext,
    conn: Conn,
    /// Next offset to fetch, per assigned partition.
    positions: Vec<(i32, i64)>,
    /// Fetched but not yet returned: (partition, offset, value).
    buffered: VecDeque<(i32, i64, Bytes)>,
    group: Option<GroupState>,
    fetches: Counter,
    empty_fetches: Counter,
    records_per_fetch: Distribution,
    reconnects: Counter,
    offset_resets: Counter,
}

/// What a group member tracks beyond its positions.
struct GroupState {
    membership: Membership,
    /// The generation `positions` belong to.
    generation: i32,
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
        let (conn, partitions) = with_timeout(
            "subscribe",
            config.request_timeout,
            open(config, addr, topic, &ctx),
        )
        .await?;
        let mut sub = PullLogSubscriber {
            config: config.clone(),
            addr: addr.to_owned(),
            topic: topic.to_owned(),
            ctx: ctx.clone(),
            conn,
            positions: Vec::new(),
            buffered: VecDeque::new(),
            group: None,
            fetches: ctx.counters.counter("fetches"),
            empty_fetches: ctx.counters.counter("empty_fetches"),
            records_per_fetch: ctx.counters.distribution("records_per_fetch"),
            reconnects: ctx.counters.counter("subscriber_reconnects"),
            offset_resets: ctx.counters.counter("offset_resets"),
        };
        match &config.group {
            None => {
                let ends = with_timeout(
                    "subscribe",
                    config.request_timeout,
                    cluster::end_offsets(&mut sub.conn, topic, &partitions),
                )
                .await?;
                sub.positions = ends;
            }
            Some(group) => {
                let membership =
                    Membership::join(config, addr, topic, group, &ctx, partitions).await?;
                sub.group = Some(GroupState {
                    membership,
                    generation: -1,
                    uncommitted: false,
                    last_commit: Instant::now(),
                });
                sub.follow_assignment();
            }
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
        if a.generation != g.generation {
            g.generation = a.generation;
            self.positions = a.partitions.clone();
            self.buffered.clear();
        }
        true
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
            if shared.assignment.as_ref().map(|a| a.generation) != Some(g.generation) {
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

    fn fetch_request(&self) -> FetchRequest {
        let mut topic = FetchTopic::default();
        topic.topic = cluster::topic_name(&self.topic);
        topic.partitions = self
            .positions
            .iter()
            .map(|&(p, offset)| {
                let mut fp = FetchPartition::default();
                fp.partition = p;
                fp.fetch_offset = offset;
                fp.partition_max_bytes = self.config.partition_fetch_max_bytes as i32;
                fp
            })
            .collect();
        let mut req = FetchRequest::default();
        req.max_wait_ms = wire_ms(self.config.fetch_max_wait);
        req.min_bytes = self.config.fetch_min_bytes as i32;
        req.max_bytes = self.config.fetch_max_bytes as i32;
        req.topics = vec![topic];
        req
    }

    /// One Fetch round trip. If the connection breaks or stalls, reconnects (with back-off,
    /// within `request_timeout`) and fetches again from the same positions.
    async fn fetch(&mut self) -> Result<FetchResponse, TransportError> {
        let bound = self.config.fetch_max_wait + self.config.request_timeout;
        let mut broken_since: Option<Instant> = None;
        let mut backoff = crate::config::backoff(&self.config);
        loop {
            let req = self.fetch_request();
            match with_timeout("fetch", bound, self.conn.call(&req, "fetch")).await {
                // A timed-out request leaves its response due on the old connection, so a
                // timeout is handled like a break: a fresh connection, the same positions.
                Err(e) if retriable(&e) => {
                    let since = *broken_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.config.request_timeout {
                        return Err(e);
                    }
                    // Give a restarting broker time to listen again.
                    backoff.wait().await;
                    let reopened = with_timeout(
                        "reconnect",
                        self.config.request_timeout,
                        open(&self.config, &self.addr, &self.topic, &self.ctx),
                    )
                    .await;
                    if let Ok((conn, _)) = reopened {
                        self.conn = conn;
                        self.reconnects.inc();
                    }
                }
                other => return other,
            }
        }
    }

    /// Repairs positions after partition errors: out-of-range positions restart at the log
    /// start (the log was truncated or the broker restarted empty, so everything there is
    /// unread), and a missing topic or leader is looked up again (which re-creates the topic).
    async fn repair(
        &mut self,
        out_of_range: Vec<i32>,
        refresh: bool,
    ) -> Result<(), TransportError> {
        let limit = self.config.request_timeout;
        if refresh {
            with_timeout(
                "metadata",
                limit,
                cluster::topic_partitions(&mut self.conn, &self.topic, limit),
            )
            .await?;
        }
        if !out_of_range.is_empty() {
            let starts = with_timeout(
                "list offsets",
                limit,
                cluster::list_offsets(
                    &mut self.conn,
                    &self.topic,
                    &out_of_range,
                    cluster::EARLIEST,
                ),
            )
            .await?;
            for (p, start) in starts {
                if let Some(pos) = self.positions.iter_mut().find(|(q, _)| *q == p) {
                    pos.1 = start;
                    self.offset_resets.inc();
                }
            }
        }
        Ok(())
    }

    /// Decodes a fetch response into the buffer and advances positions; returns the records,
    /// the partitions whose position is out of range, and whether metadata needs a refresh.
    fn absorb(&mut self, resp: FetchResponse) -> Result<(usize, Vec<i32>, bool), TransportError> {
        if resp.error_code != 0 {
            return Err(cluster::refused("fetch", resp.error_code, "fetch"));
        }
        let mut total = 0;
        let mut out_of_range = Vec::new();
        let mut refresh = false;
        for t in resp
            .responses
            .iter()
            .filter(|t| t.topic.0.as_str() == self.topic)
        {
            for pd in &t.partitions {
                let Some(pos) = self
                    .positions
                    .iter_mut()
                    .find(|(p, _)| *p == pd.partition_index)
                else {
                    continue; // not ours (any more)
                };
                match pd.error_code {
                    0 => {}
                    code::OFFSET_OUT_OF_RANGE => {
                        out_of_range.push(pd.partition_index);
                        continue;
                    }
                    code::UNKNOWN_TOPIC_OR_PARTITION
                    | code::LEADER_NOT_AVAILABLE
                    | code::NOT_LEADER_OR_FOLLOWER => {
                        refresh = true;
                        continue;
                    }
                    c => return Err(cluster::refused("fetch", c, "partition")),
                }
                let Some(data) = &pd.records else { continue };
                let p = pd.partition_index;
                let mut tagged = Tagged(p, &mut self.buffered);
                let d = decode_records(data, pos.1, &mut tagged)
                    .map_err(|e| TransportError::protocol("fetch", e))?;
                if let Some(next) = d.next_offset {
                    pos.1 = pos.1.max(next);
                }
                total += d.records;
            }
        }
        Ok((total, out_of_range, refresh))
    }
}

/// Tags decoded records with their partition on the way into the buffer.
struct Tagged<'a>(i32, &'a mut VecDeque<(i32, i64, Bytes)>);

impl Extend<(i64, Bytes)> for Tagged<'_> {
    fn extend<I: IntoIterator<Item = (i64, Bytes)>>(&mut self, iter: I) {
        let p = self.0;
        self.1.extend(iter.into_iter().map(|(o, v)| (p, o, v)));
    }
}

/// Connects to `addr` and looks up `topic`: the handshake of every subscriber connection.
async fn open(
    config: &PullLogConfig,
    addr: &str,
    topic: &str,
    ctx: &ClientContext,
) -> Result<(Conn, Vec<i32>), TransportError> {
    let client_id = format!("pull-log-sub-{}", ctx.client_index);
    let mut conn = Conn::connect(addr, ctx, client_id, max_response_bytes(config)).await?;
    let partitions = cluster::topic_partitions(&mut conn, topic, config.request_timeout).await?;
    conn.end_handshake();
    Ok((conn, partitions))
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
        self.conn.shutdown().await;
        Ok(())
    }
}
