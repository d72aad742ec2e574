//! Where positions go when the log under them changed: a new incarnation of the topic (its
//! topic id changed, see `incarnation.rs`) sends every position to the new log's start, and an
//! out-of-range position (the log was truncated, or restarted empty at a broker that sends no
//! topic ids) restarts at the log start. Either way what lies there is unread, so starting
//! anywhere later would skip it.

use transport_core::TransportError;

use super::PullLogSubscriber;
use crate::cluster::{self, TopicMeta};
use crate::incarnation;
use crate::with_timeout;

impl PullLogSubscriber {
    /// Repairs positions after partition errors: a missing topic or leader is looked up again
    /// (which re-creates the topic, and may show a new incarnation), and out-of-range positions
    /// restart at the log start.
    pub(super) async fn repair(
        &mut self,
        out_of_range: Vec<i32>,
        refresh: bool,
    ) -> Result<(), TransportError> {
        let limit = self.config.request_timeout;
        if refresh {
            let meta = with_timeout(
                "metadata",
                limit,
                cluster::topic_meta(&mut self.conn, &self.topic, limit),
            )
            .await?;
            if self.check_incarnation(&meta).await? {
                // Every position is at the new log's start already.
                return Ok(());
            }
        }
        if !out_of_range.is_empty() {
            let starts = self.log_starts(&out_of_range).await?;
            for (p, start) in starts {
                if let Some(pos) = self.positions.iter_mut().find(|(q, _)| *q == p) {
                    pos.1 = start;
                    self.offset_resets.inc();
                }
            }
        }
        Ok(())
    }

    /// The start offsets of `partitions` (ListOffsets "earliest").
    async fn log_starts(&mut self, partitions: &[i32]) -> Result<Vec<(i32, i64)>, TransportError> {
        let limit = self.config.request_timeout;
        with_timeout(
            "list offsets",
            limit,
            cluster::list_offsets(&mut self.conn, &self.topic, partitions, cluster::EARLIEST),
        )
        .await
    }

    /// Compares a Metadata answer with the incarnation the positions were read under. If it is
    /// another one, every position goes to the new log's start (without a group: every
    /// partition the new log has; with one: the assigned partitions it has) and, for a group
    /// member, the offsets to commit become those starts, so offsets of the old log are never
    /// committed to the new one. Returns whether the positions were reset.
    pub(super) async fn check_incarnation(
        &mut self,
        meta: &TopicMeta,
    ) -> Result<bool, TransportError> {
        self.seen.observe(meta.id);
        if !incarnation::changed(self.topic_id, meta.id) {
            self.topic_id = incarnation::retag(self.topic_id, meta.id);
            return Ok(false);
        }
        let partitions: Vec<i32> = match &self.group {
            None => meta.partitions.clone(),
            Some(_) => self
                .positions
                .iter()
                .map(|&(p, _)| p)
                .filter(|p| meta.partitions.contains(p))
                .collect(),
        };
        // On failure the positions keep their old tag, so the next Metadata answer (after the
        // reconnect this failure leads to) resets them again.
        let starts = self.log_starts(&partitions).await?;
        self.topic_id = meta.id;
        self.positions = starts;
        // A fetch only starts with an empty buffer, so anything here came from the new log at
        // the old positions (a refresh after partition errors): the middle of the wrong log.
        self.buffered.clear();
        if let Some(g) = &self.group {
            let mut shared = g.membership.lock();
            // Only if the assignment these positions belong to is still current: a newer one
            // was computed by the group task against the log it saw, and replaces them anyway.
            if shared.assignment.as_ref().map(|a| a.seq) == Some(g.seq) {
                shared.consumed = self.positions.iter().copied().collect();
                shared.topic_id = meta.id;
            }
        }
        Ok(true)
    }
}
