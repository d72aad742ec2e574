//! Consumer-group membership: join, sync, heartbeat, commit and leave, on a connection of its
//! own so heartbeats are never stuck behind a parked fetch.
//!
//! A background task holds the membership. The leader assigns partitions with the range
//! strategy (sorted members get contiguous runs of sorted partitions). When a heartbeat reports
//! a rebalance, the task first *revokes*: under the shared lock it clears the assignment and
//! takes the offsets the subscriber has handed to the harness, commits them (unless
//! `commit = "none"`), then rejoins. The subscriber updates `consumed` under that same lock
//! when it returns records, so every returned record is either committed before the partition
//! moves or not returned at all: a rebalance loses nothing, and repeats only what was returned
//! after the last commit (when commits are off or fail).
//!
//! If the coordinator connection breaks, the task revokes, reconnects (within
//! `request_timeout`) and rejoins; the subscriber only sees a pause.
//!
//! A partition without a committed offset starts at its log end, and that offset is committed
//! at once, so a later owner resumes from it instead of from a newer log end.
//!
//! Offsets are only meaningful in the incarnation of the topic they were read in, so `consumed`
//! is tagged with its topic id, and the task learns the id again with Metadata on every
//! reconnect. Offsets of another incarnation (the broker restarted empty, the topic was
//! recreated) are neither committed nor used as start positions: the new log is read from its
//! start instead (or from what the group committed in it). Offsets of the *same* incarnation
//! are trusted even where the coordinator lost the group's commits in a restart (file storage
//! keeps the log, not the commits), so the member resumes exactly where it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use transport_core::{ClientContext, Counter, TransportError};

use crate::assign::Assignment;
use crate::cluster::TopicMeta;
use crate::config::{CommitMode, PullLogConfig, max_response_bytes};
use crate::conn::{Conn, retriable};
use crate::group_proto::Proto;
use crate::incarnation::{self, Seen, TopicId};
use crate::with_timeout;

/// State shared by the subscriber and the membership task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The current assignment; `None` while revoked (rebalancing).
    pub assignment: Option<Assignment>,
    /// Offset after the last record returned to the harness, per partition.
    pub consumed: BTreeMap<i32, i64>,
    /// The topic id `consumed` was read under.
    pub topic_id: Option<TopicId>,
}

enum Cmd {
    Commit(Option<oneshot::Sender<Result<(), TransportError>>>),
    Leave(oneshot::Sender<()>),
}

/// The subscriber's handle on its group membership.
pub(crate) struct Membership {
    shared: Arc<Mutex<Shared>>,
    changed: watch::Receiver<u64>,
    cmd: mpsc::Sender<Cmd>,
    task: Option<JoinHandle<Result<(), TransportError>>>,
    timeout: Duration,
}

impl Membership {
    /// Joins `group` and returns once the first assignment (with start offsets) is known.
    pub(crate) async fn join(
        config: &PullLogConfig,
        addr: &str,
        topic: &str,
        group: &str,
        ctx: &ClientContext,
        meta: TopicMeta,
        seen: Arc<Seen>,
    ) -> Result<Membership, TransportError> {
        let client_id = format!("pull-log-member-{}", ctx.client_index);
        let max_frame = max_response_bytes(config);
        let proto = with_timeout("join group", config.request_timeout, async {
            let conn = Conn::connect(addr, ctx, client_id, max_frame).await?;
            Proto::new(conn, config, group, topic, meta, seen).await
        })
        .await?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (notify, mut changed) = watch::channel(0u64);
        let (cmd, rx) = mpsc::channel(16);
        let task = Task {
            proto,
            shared: shared.clone(),
            notify,
            rx,
            commit: config.commit,
            heartbeat_interval: config.heartbeat_interval,
            config: config.clone(),
            addr: addr.to_owned(),
            reconnects: ctx.counters.counter("group_reconnects"),
            ctx: ctx.clone(),
            assignments: 0,
        };
        let mut m = Membership {
            shared,
            changed: changed.clone(),
            cmd,
            task: Some(tokio::spawn(task.run())),
            timeout: config.request_timeout,
        };
        let first = config.rebalance_timeout + config.request_timeout;
        let joined = with_timeout("join group", first, async {
            while m.lock().assignment.is_none() {
                if changed.changed().await.is_err() {
                    return Err(TransportError::Closed {
                        stage: "join group",
                    });
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = joined {
            return Err(m.task_error().await.unwrap_or(e));
        }
        Ok(m)
    }

    /// The shared state; hold it only briefly (never across an await).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `max` for the assignment to change.
    pub(crate) async fn changed(&mut self, max: Duration) -> Result<(), TransportError> {
        match tokio::time::timeout(max, self.changed.changed()).await {
            Ok(Err(_)) => Err(self
                .task_error()
                .await
                .unwrap_or(TransportError::Closed { stage: "group" })),
            _ => Ok(()),
        }
    }

    /// Commits the consumed offsets; with `wait`, until the coordinator has them.
    pub(crate) async fn commit(&mut self, wait: bool) -> Result<(), TransportError> {
        let (reply, done) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        if self.cmd.send(Cmd::Commit(reply)).await.is_err() {
            return Err(self.dead().await);
        }
        if let Some(done) = done {
            match with_timeout("commit", self.timeout * 2, async { Ok(done.await) }).await? {
                Ok(res) => res?,
                Err(_) => return Err(self.dead().await),
            }
        }
        Ok(())
    }

    /// Leaves the group and stops the task.
    pub(crate) async fn leave(mut self) -> Result<(), TransportError> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Leave(tx)).await.is_ok() {
            // An early answer or a dead task both mean the membership is over.
            let _ = with_timeout("leave group", self.timeout, async { Ok(rx.await) }).await;
        }
        match self.task_error().await {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn dead(&mut self) -> TransportError {
        self.task_error()
            .await
            .unwrap_or(TransportError::Closed { stage: "group" })
    }

    /// Waits for the task to end and returns its error, if it failed.
    async fn task_error(&mut self) -> Option<TransportError> {
        let task = self.task.take()?;
        match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(TransportError::protocol("group", format!("task: {e}"))),
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Why the steady phase ended.
enum Exit {
    Rejoin,
    Leave,
}

struct Task {
    proto: Proto,
    shared: Arc<Mutex<Shared>>,
    notify: watch::Sender<u64>,
    rx: mpsc::Receiver<Cmd>,
    commit: CommitMode,
    heartbeat_interval: Duration,
    config: PullLogConfig,
    addr: String,
    ctx: ClientContext,
    reconnects: Counter,
    /// Assignments made so far (the next one's `seq`).
    assignments: u64,
}

impl Task {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What this member consumed, if it was read in the incarnation the coordinator connection
    /// sees (else nothing: those offsets mean nothing in this log), and whether that
    /// incarnation is known for certain (both ids present and equal).
    fn own_offsets(&self) -> (BTreeMap<i32, i64>, bool) {
        let now = self.proto.topic_id();
        let s = self.lock();
        if incarnation::changed(s.topic_id, now) {
            return (BTreeMap::new(), false);
        }
        (
            s.consumed.clone(),
            s.topic_id.is_some() && s.topic_id == now,
        )
    }

    async fn run(mut self) -> Result<(), TransportError> {
        loop {
            let (previous, same_log) = self.own_offsets();
            let mut assignment = match self.proto.join_and_sync(&previous, same_log).await {
                Ok(a) => a,
                Err(e) => {
                    self.reconnect(e).await?;
                    continue;
                }
            };
            self.assignments += 1;
            assignment.seq = self.assignments;
            {
                let mut s = self.lock();
                s.consumed = assignment.partitions.iter().copied().collect();
                s.topic_id = assignment.topic_id;
                s.assignment = Some(assignment);
            }
            self.notify.send_modify(|v| *v += 1);
            match self.steady().await {
                Ok(Exit::Leave) => return Ok(()),
                Ok(Exit::Rejoin) => self.revoke().await,
                Err(e) => {
                    self.revoke().await;
                    self.reconnect(e).await?;
                }
            }
        }
    }

    /// After a broken or stalled coordinator connection: reconnects with back-off within
    /// `request_timeout`, or gives up with `e` (which is also returned if it is not a
    /// connection problem).
    async fn reconnect(&mut self, e: TransportError) -> Result<(), TransportError> {
        if !retriable(&e) {
            return Err(e);
        }
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        let mut backoff = crate::config::backoff(&self.config, &self.ctx);
        while tokio::time::Instant::now() < deadline {
            // Give a restarting broker time to listen again.
            backoff.wait().await;
            let client_id = format!("pull-log-member-{}", self.ctx.client_index);
            let attempt = with_timeout("reconnect", self.config.request_timeout, async {
                let conn = Conn::connect(
                    &self.addr,
                    &self.ctx,
                    client_id,
                    max_response_bytes(&self.config),
                )
                .await?;
                self.proto.reconnect(conn).await
            })
            .await;
            if attempt.is_ok() {
                self.reconnects.inc();
                return Ok(());
            }
        }
        Err(e)
    }

    /// Heartbeats and serves commit/leave commands until a rebalance or a leave.
    async fn steady(&mut self) -> Result<Exit, TransportError> {
        let mut next = tokio::time::Instant::now() + self.heartbeat_interval;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {
                    next += self.heartbeat_interval;
                    if self.proto.heartbeat().await? {
                        return Ok(Exit::Rejoin);
                    }
                }
                cmd = self.rx.recv() => match cmd {
                    Some(Cmd::Commit(reply)) => {
                        let (offsets, _) = self.own_offsets();
                        let (answer, exit) = match self.proto.commit(&offsets).await {
                            Ok(rejoin) => (Ok(()), rejoin.then_some(Ok(Exit::Rejoin))),
                            // A broken connection is the membership's problem, not the
                            // subscriber's: it reconnects and rejoins, and at worst the
                            // uncommitted records are read again (duplicates, not loss).
                            Err(e) if retriable(&e) => (Ok(()), Some(Err(e))),
                            Err(e) => (Err(e), None),
                        };
                        if let Some(reply) = reply {
                            // The subscriber may have stopped waiting; nothing to do then.
                            let _ = reply.send(answer);
                        }
                        if let Some(exit) = exit {
                            return exit;
                        }
                    }
                    Some(Cmd::Leave(reply)) => {
                        let res = self.proto.leave().await;
                        let _ = reply.send(());
                        // A member whose connection is gone has left as far as it can tell.
                        return match res {
                            Err(e) if !retriable(&e) => Err(e),
                            _ => Ok(Exit::Leave),
                        };
                    }
                    None => {
                        // Dropped without close: leaving is a courtesy to the others.
                        let _ = self.proto.leave().await;
                        return Ok(Exit::Leave);
                    }
                },
            }
        }
    }

    /// Stops the subscriber from returning records and commits what it returned.
    async fn revoke(&mut self) {
        self.lock().assignment = None;
        let (offsets, _) = self.own_offsets();
        self.notify.send_modify(|v| *v += 1);
        if self.commit != CommitMode::None && !offsets.is_empty() {
            // Best effort: a coordinator that refuses commits mid-rebalance costs duplicates,
            // not loss, because the subscriber returns nothing more until it rejoins.
            let _ = self.proto.commit(&offsets).await;
        }
    }
}
