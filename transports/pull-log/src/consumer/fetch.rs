//! Fetching: the Fetch request built from the positions, the round trip with reconnects, and
//! decoding a response into the buffer.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;
use transport_core::TransportError;

use super::{FetchConn, PullLogSubscriber, open};
use crate::cluster::{self, TopicMeta, code};
use crate::config::{PullLogConfig, wire_ms};
use crate::conn::retriable;
use crate::incarnation::TopicId;
use crate::records::decode_records;
use crate::with_timeout;

impl PullLogSubscriber {
    /// A Fetch of every position at once, parked by the broker per `fetch_min_bytes` and
    /// `fetch_max_wait`.
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
    /// see [`Recovery`]) and fetches again from the same positions, unless the new
    /// connection's Metadata shows another incarnation of the topic (see `resets.rs`). A fetch
    /// only goes out once the positions' topic id agrees with the connection's Metadata: if
    /// that check fails, the fetch would read whatever log this is at offsets of another one,
    /// so the connection is dropped (its ListOffsets may still be due on it) and the
    /// subscriber reconnects and checks again.
    pub(super) async fn fetch(&mut self) -> Result<FetchResponse, TransportError> {
        let bound = self.config.fetch_max_wait + self.config.request_timeout;
        let mut recovery = Recovery::new(&self.config, &self.ctx);
        loop {
            let Some(mut c) = self.conn.take() else {
                match self.reopen().await {
                    Ok(c) => self.conn = Some(c),
                    // Whatever kept it from opening, the broker may be restarting: retry.
                    Err(e) => recovery.retry(e).await?,
                }
                continue;
            };
            match self.confirm(&mut c).await {
                Ok(()) => {}
                Err(e) if retriable(&e) => {
                    recovery.retry_after_check(e).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let req = self.fetch_request();
            // A timed-out request leaves its response due on that connection, so a timeout is
            // handled like a break: the connection is dropped, a fresh one replaces it.
            match with_timeout("fetch", bound, c.conn.call(&req, "fetch")).await {
                Ok(resp) => {
                    c.fresh = false;
                    self.conn = Some(c);
                    return Ok(resp);
                }
                Err(e) if retriable(&e) => recovery.retry(e).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens a fresh fetch connection (counted in `subscriber_reconnects`).
    async fn reopen(&mut self) -> Result<FetchConn, TransportError> {
        let (conn, meta) = with_timeout(
            "reconnect",
            self.config.request_timeout,
            open(&self.config, &self.addr, &self.topic, &self.ctx),
        )
        .await?;
        self.reconnects.inc();
        Ok(FetchConn {
            conn,
            meta,
            fresh: true,
        })
    }

    /// Makes the positions agree with the log `c`'s Metadata describes before a fetch goes
    /// out on it: after a reconnect, and after adopting a group assignment whose offsets were
    /// looked up on the coordinator connection. Without an id in the Metadata there is nothing
    /// to compare.
    async fn confirm(&mut self, c: &mut FetchConn) -> Result<(), TransportError> {
        let agree = |tag: Option<TopicId>, meta: &TopicMeta| meta.id.is_none() || tag == meta.id;
        if agree(self.topic_id, &c.meta) {
            return Ok(());
        }
        if !c.fresh {
            // The positions came from the coordinator connection's view, which may be newer
            // than this connection's Metadata (this broker may be gone): ask again first.
            c.refresh(&self.topic, self.config.request_timeout).await?;
            if agree(self.topic_id, &c.meta) {
                return Ok(());
            }
        }
        self.check_incarnation(&mut c.conn, &c.meta).await?;
        Ok(())
    }

    /// Decodes a fetch response into the buffer and advances positions; returns the records,
    /// the partitions whose position is out of range, and whether metadata needs a refresh.
    pub(super) fn absorb(
        &mut self,
        resp: FetchResponse,
    ) -> Result<(usize, Vec<i32>, bool), TransportError> {
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

/// One recovery's retrying: back-off between attempts, until `request_timeout` has passed
/// since the first failure. A failed incarnation check gets a budget of its own, once: its
/// ListOffsets may have waited `request_timeout` itself (as a stalled fetch has before the
/// budget starts), and without that, one stalled answer on the connection after a restart
/// would always end the subscriber instead of costing a reconnect.
struct Recovery {
    backoff: transport_core::Backoff,
    limit: Duration,
    deadline: Option<Instant>,
    check_budgeted: bool,
}

impl Recovery {
    fn new(config: &PullLogConfig, ctx: &transport_core::ClientContext) -> Recovery {
        Recovery {
            backoff: crate::config::backoff(config, ctx),
            limit: config.request_timeout,
            deadline: None,
            check_budgeted: false,
        }
    }

    /// After `failure`: waits out the back-off, or gives up with `failure` once the budget is
    /// spent.
    async fn retry(&mut self, failure: TransportError) -> Result<(), TransportError> {
        let limit = self.limit;
        let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + limit);
        if Instant::now() >= deadline {
            return Err(failure);
        }
        // Give a restarting broker time to listen again.
        self.backoff.wait().await;
        Ok(())
    }

    /// [`Recovery::retry`] after a failed incarnation check.
    async fn retry_after_check(&mut self, failure: TransportError) -> Result<(), TransportError> {
        if !self.check_budgeted {
            self.check_budgeted = true;
            let fresh = Instant::now() + self.limit;
            self.deadline = Some(self.deadline.map_or(fresh, |d| d.max(fresh)));
        }
        self.retry(failure).await
    }
}
