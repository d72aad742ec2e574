//! Where positions go when the log under them changed: a new incarnation of the topic (its
//! topic id changed, see `incarnation.rs`) sends every position to the new log's start, and an
//! out-of-range position (the log was truncated, or restarted empty at a broker that sends no
//! topic ids) restarts at the log start. Either way what lies there is unread, so starting
//! anywhere later would skip it.

use transport_core::TransportError;

use super::{FetchConn, PullLogSubscriber};
use crate::cluster::{self, TopicMeta};
use crate::conn::Conn;
use crate::incarnation;
use crate::with_timeout;

impl PullLogSubscriber {
    /// Repairs positions after partition errors: a missing topic or leader is looked up again
    /// (which re-creates the topic, and may show a new incarnation), and out-of-range positions
    /// restart at the log start. On failure the connection is dropped, so nothing fetches on
    /// it with positions its Metadata may not agree with, nor reads a response still due on
    /// it.
    pub(super) async fn repair(
        &mut self,
        out_of_range: Vec<i32>,
        refresh: bool,
    ) -> Result<(), TransportError> {
        let Some(mut c) = self.conn.take() else {
            return Ok(()); // nothing to ask; the next fetch reconnects and checks anyway
        };
        self.repair_on(&mut c, out_of_range, refresh).await?;
        self.conn = Some(c);
        Ok(())
    }

    /// [`Self::repair`] on the taken connection `c`.
    async fn repair_on(
        &mut self,
        c: &mut FetchConn,
        out_of_range: Vec<i32>,
        refresh: bool,
    ) -> Result<(), TransportError> {
        let limit = self.config.request_timeout;
        if refresh {
            c.refresh(&self.topic, limit).await?;
            if self.check_incarnation(&mut c.conn, &c.meta).await? {
                // Every position is at the new log's start already.
                return Ok(());
            }
        }
        if !out_of_range.is_empty() {
            let starts = self.log_starts(&mut c.conn, &out_of_range).await?;
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
    async fn log_starts(
        &self,
        conn: &mut Conn,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64)>, TransportError> {
        let limit = self.config.request_timeout;
        with_timeout(
            "list offsets",
            limit,
            cluster::list_offsets(conn, &self.topic, partitions, cluster::EARLIEST),
        )
        .await
    }

    /// Compares `conn`'s Metadata answer with the incarnation the positions were read under.
    /// If it is another one, every position goes to the new log's start (without a group:
    /// every partition the new log has; with one: the assigned partitions it has) and, for a
    /// group member, the offsets to commit become those starts, so offsets of the old log are
    /// never committed to the new one. Returns whether the positions were reset. On failure
    /// the positions keep their old tag, so the caller must not fetch them on `conn`.
    pub(super) async fn check_incarnation(
        &mut self,
        conn: &mut Conn,
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
        // A fetch only starts with an empty buffer, so anything here came from the new log at
        // the old positions (a refresh after partition errors): the middle of the wrong log.
        // Cleared before asking, since it is wrong whether or not the asking succeeds.
        self.buffered.clear();
        // On failure the positions keep their old tag, so the Metadata of the connection that
        // replaces this one sends them to the new log's start again.
        let starts = self.log_starts(conn, &partitions).await?;
        self.topic_id = meta.id;
        self.positions = starts;
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
