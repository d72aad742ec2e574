//! Fetching: the Fetch request built from the positions, the round trip with reconnects, and
//! decoding a response into the buffer.

use std::collections::VecDeque;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;
use transport_core::TransportError;

use super::{PullLogSubscriber, open};
use crate::cluster::{self, code};
use crate::config::wire_ms;
use crate::producer_task::retriable;
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
    /// within `request_timeout`) and fetches again from the same positions, unless the new
    /// connection's Metadata shows another incarnation of the topic (see `resets.rs`).
    pub(super) async fn fetch(&mut self) -> Result<FetchResponse, TransportError> {
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
                    if let Ok((conn, meta)) = reopened {
                        self.conn = conn;
                        self.reconnects.inc();
                        // Before the next fetch: is this still the log the positions are in?
                        // A failure here is another break: the next round reconnects again
                        // and checks again, since the positions keep their old tag until then.
                        match self.check_incarnation(&meta).await {
                            Err(e) if !retriable(&e) => return Err(e),
                            _ => {}
                        }
                    }
                }
                other => return other,
            }
        }
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
