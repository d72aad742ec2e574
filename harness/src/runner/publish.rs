//! The publish phase (warm-up and measured window) and the publisher loops it runs: open loop
//! (send what the schedule released, stamped with its intended time) and closed loop (send as
//! fast as the in-flight window allows). This is where every message is stamped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;
use transport_core::{Envelope, Publisher, clock};

use super::flow::{FlowControl, Window};
use super::schedule::Schedule;
use crate::results::histogram::latency_histogram;
use crate::results::{FailureKind, Failures};
use crate::scenario::Rate;

/// How long to wait after the last publish for acknowledgements of everything sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What every publisher of a run shares.
#[derive(Debug, Clone)]
pub struct Publishing {
    /// Message size.
    pub payload_len: usize,
    /// Start of the measured window.
    pub measure_start_ns: u64,
    /// End of the measured window.
    pub measure_end_ns: u64,
    /// A publisher still behind schedule at this instant gives up on the rest.
    pub stop_at: Instant,
    /// Messages accepted so far, readable even if the publisher's task never returns.
    pub progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What one publisher did.
#[derive(Debug)]
pub struct PublishOutcome<P> {
    /// The publisher, for closing.
    pub publisher: P,
    /// Messages accepted by the transport (sequence numbers 0..sent).
    pub sent: u64,
    /// Of those, messages intended inside the measured window.
    pub sent_in_window: u64,
    /// Messages the schedule called for but the publisher never sent (it fell too far behind).
    pub unsent: u64,
    /// Actual minus intended send time, measured window only.
    pub lag: Histogram<u64>,
    /// The error that stopped it, if any.
    pub error: Option<String>,
}

impl<P> PublishOutcome<P> {
    fn new(publisher: P) -> Self {
        PublishOutcome {
            publisher,
            sent: 0,
            sent_in_window: 0,
            unsent: 0,
            lag: latency_histogram(),
            error: None,
        }
    }
}

impl<P: Publisher> PublishOutcome<P> {
    /// Sends message `sent` stamped as intended at `intended_ns` and sent at `now` (read just
    /// before); false on error (recorded).
    async fn send(&mut self, id: u32, intended_ns: u64, now: u64, cfg: &Publishing) -> bool {
        let env = Envelope {
            publisher: id,
            seq: self.sent,
            intended_ns,
            sent_ns: now,
        };
        if let Err(e) = self.publisher.publish(env.encode(cfg.payload_len)).await {
            self.error = Some(e.to_string());
            return false;
        }
        self.accepted(1, intended_ns, now, cfg);
        true
    }

    /// Counts `n` more messages accepted, all intended at `intended_ns` and handed over at
    /// `now`: the progress every publisher shares, and in the measured window the lag.
    fn accepted(&mut self, n: u64, intended_ns: u64, now: u64, cfg: &Publishing) {
        self.count(n, cfg);
        self.lag(n, intended_ns, now, cfg);
    }

    /// Counts `n` more messages accepted, in the progress every publisher shares.
    fn count(&mut self, n: u64, cfg: &Publishing) {
        self.sent += n;
        cfg.progress.store(self.sent, Ordering::Relaxed);
    }

    /// Records the lag of `n` messages intended at `intended_ns` and handed over at `now`, if
    /// they were intended inside the measured window.
    fn lag(&mut self, n: u64, intended_ns: u64, now: u64, cfg: &Publishing) {
        if n > 0 && (cfg.measure_start_ns..cfg.measure_end_ns).contains(&intended_ns) {
            self.sent_in_window += n;
            self.lag
                .saturating_record_n(now.saturating_sub(intended_ns).max(1), n);
        }
    }

    /// Sends the next `n` messages, all intended and sent at `now`, as one batch through
    /// `batch` (a reused vector); returns how many the transport accepted (all unless an error
    /// stopped it, recorded).
    async fn send_batch(
        &mut self,
        id: u32,
        n: u64,
        now: u64,
        cfg: &Publishing,
        batch: &mut Vec<Bytes>,
    ) -> u64 {
        stamp_batch(id, self.sent..self.sent + n, now, cfg.payload_len, batch);
        let (accepted, _) = self.hand_over(batch).await;
        // Intended and actual send are the same instant in closed loop: lag 1 ns (the floor).
        self.accepted(accepted, now, now, cfg);
        accepted
    }

    /// Sends the next `n` messages, each stamped with its own intended time from `schedule`
    /// and all with one send time, as one batch through `batch` (a reused vector); false on
    /// error (recorded, with the messages accepted before it counted).
    async fn send_due(
        &mut self,
        id: u32,
        n: u64,
        schedule: &Schedule,
        cfg: &Publishing,
        batch: &mut Vec<Bytes>,
    ) -> bool {
        let now = clock::now_ns();
        let first = self.sent;
        // A usize range: its length is known, so the batch is allocated once.
        let envelopes = (0..n as usize).map(|i| {
            let seq = first + i as u64;
            Envelope {
                publisher: id,
                seq,
                intended_ns: schedule.intended_ns(id, seq),
                sent_ns: now,
            }
        });
        Envelope::encode_all(envelopes, cfg.payload_len, batch);
        let (accepted, ok) = self.hand_over(batch).await;
        for seq in first..first + accepted {
            self.lag(1, schedule.intended_ns(id, seq), now, cfg);
        }
        self.count(accepted, cfg);
        ok
    }

    /// Hands `batch` to the transport and empties it; returns how many messages it accepted
    /// and whether all were (an error that stopped it is recorded).
    async fn hand_over(&mut self, batch: &mut Vec<Bytes>) -> (u64, bool) {
        let mut accepted = 0;
        let result = self.publisher.publish_batch(batch, &mut accepted).await;
        batch.clear();
        let ok = result.is_ok();
        if let Err(e) = result {
            self.error = Some(e.to_string());
        }
        (accepted as u64, ok)
    }

    async fn finish(mut self) -> Self {
        if self.error.is_none() {
            match tokio::time::timeout(FLUSH_TIMEOUT, self.publisher.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.error = Some(format!("flush: {e}")),
                Err(_) => {
                    self.error = Some(format!("flush did not finish within {FLUSH_TIMEOUT:?}"))
                }
            }
        }
        self
    }
}

/// Sends every message the schedule releases to publisher `id`, each stamped with the time it
/// was *meant* to go out.
pub async fn open_loop<P: Publisher>(
    publisher: P,
    id: u32,
    schedule: std::sync::Arc<Schedule>,
    cfg: Publishing,
) -> PublishOutcome<P> {
    let mut out = PublishOutcome::new(publisher);
    let total = schedule.per_publisher();
    let mut batch = Vec::new();
    'run: while out.sent < total {
        let released = schedule.released(id);
        while out.sent < released {
            if Instant::now() > cfg.stop_at {
                break 'run;
            }
            let due = (released - out.sent).min(OPEN_LOOP_BATCH);
            let sent = if due == 1 {
                let intended = schedule.intended_ns(id, out.sent);
                out.send(id, intended, clock::now_ns(), &cfg).await
            } else {
                out.send_due(id, due, &schedule, &cfg, &mut batch).await
            };
            if !sent {
                break 'run;
            }
        }
        if Instant::now() > cfg.stop_at {
            break;
        }
        schedule
            .wait_for_release(id, out.sent, Duration::from_millis(100))
            .await;
    }
    if out.error.is_none() {
        out.unsent = total - out.sent;
    }
    out.finish().await
}

/// Messages an open-loop publisher behind its schedule stamps and hands over at once, at
/// most. Each keeps its own intended time, so latency is measured exactly as one at a time;
/// the batch only shares the clock reading, the allocation and the hand-over.
const OPEN_LOOP_BATCH: u64 = 64;

/// Replaces `batch` with the messages of publisher `id` numbered `seqs`, all intended and sent
/// at `now_ns`, sharing one buffer ([`Envelope::encode_batch`]).
pub fn stamp_batch(
    id: u32,
    seqs: std::ops::Range<u64>,
    now_ns: u64,
    payload_len: usize,
    batch: &mut Vec<Bytes>,
) {
    let first = Envelope {
        publisher: id,
        seq: seqs.start,
        intended_ns: now_ns,
        sent_ns: now_ns,
    };
    first.encode_batch((seqs.end - seqs.start) as usize, payload_len, batch);
}

/// Messages the closed loop stamps and hands over at once, at most.
const CLOSED_LOOP_BATCH: u64 = 64;

/// Sends as fast as the window allows until `end`; intended time is the actual send time.
///
/// It takes whatever room the window has (up to [`CLOSED_LOOP_BATCH`]), stamps that many
/// messages with one clock reading into one buffer and hands them over with one
/// `publish_batch`: per message, the harness then costs an envelope's bytes, not an allocation
/// and a clock read. Every message of a batch is stamped with the instant it was handed over,
/// so time a transport spends inside the batch counts as latency (never hidden from it).
pub async fn closed_loop<P: Publisher>(
    publisher: P,
    id: u32,
    window: &Window,
    cfg: Publishing,
    end: Instant,
) -> PublishOutcome<P> {
    let mut out = PublishOutcome::new(publisher);
    let end_ns = clock::as_ns(end);
    let mut batch = Vec::with_capacity(CLOSED_LOOP_BATCH as usize);
    loop {
        let mut n = window.try_acquire_up_to(CLOSED_LOOP_BATCH);
        if n == 0 {
            if !window.acquire(end).await {
                break;
            }
            n = 1 + window.try_acquire_up_to(CLOSED_LOOP_BATCH - 1);
        }
        let now = clock::now_ns();
        if now >= end_ns {
            window.release_failed(n);
            break;
        }
        let accepted = out.send_batch(id, n, now, &cfg, &mut batch).await;
        if accepted < n {
            window.release_failed(n - accepted);
            break;
        }
    }
    out.finish().await
}

/// When and how a run publishes.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Open loop at a rate, or closed loop as fast as the window allows.
    pub rate: Rate,
    /// The first scheduled message.
    pub start: Instant,
    /// `start` in [`clock`] ns.
    pub start_ns: u64,
    /// End of the measured window.
    pub end: Instant,
    /// Warm-up plus measured window.
    pub total: Duration,
    /// Publishers still running this long after `end` are abandoned.
    pub deadline_after_end: Duration,
}

/// What the publish phase produced.
#[derive(Debug)]
pub struct Published<P> {
    /// One per publisher; `None` where its task failed or hung.
    pub outcomes: Vec<Option<PublishOutcome<P>>>,
    /// Messages each publisher had accepted (index = publisher id), even those that hung.
    pub published: Vec<u64>,
    /// How late the open-loop generator thread woke (empty for closed loop).
    pub generator_lag: Histogram<u64>,
    /// Messages the schedule intended inside the measured window (open loop only).
    pub scheduled_in_window: Option<u64>,
}

/// Runs every publisher through warm-up and the measured window under one deadline, counting
/// what each hands over into `sent_so_far` (one per publisher: subscribers measure their
/// backlog against it); problems are added to `failures`.
pub async fn run_publishers<P: Publisher>(
    (publishers, sent_so_far): (Vec<P>, &[Arc<AtomicU64>]),
    flow: &Arc<FlowControl>,
    publishing: Publishing,
    plan: Plan,
    failures: &mut Failures,
) -> anyhow::Result<Published<P>> {
    let count = publishers.len() as u32;
    let schedule = match plan.rate {
        Rate::PerSec(rate) => Some(Schedule::new(plan.start_ns, rate, count, plan.total)),
        Rate::Max => None,
    };
    let window = publishing.measure_start_ns..publishing.measure_end_ns;
    let generator = match &schedule {
        Some(s) => Some(s.spawn_generator(window.clone())?),
        None => None,
    };
    anyhow::ensure!(
        sent_so_far.len() == publishers.len(),
        "one progress counter per publisher"
    );
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(p, publisher)| {
            let publishing = Publishing {
                progress: sent_so_far[p].clone(),
                ..publishing.clone()
            };
            spawn_one(publisher, p as u32, &schedule, flow, publishing, plan)
        })
        .collect();
    let deadline = tokio::time::Instant::now()
        + plan.end.saturating_duration_since(Instant::now())
        + plan.deadline_after_end;
    let outcomes = collect(tasks, deadline, failures).await;
    if let Some(s) = &schedule {
        s.stop();
    }
    let generator_lag = match generator {
        Some(g) => tokio::task::spawn_blocking(move || g.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(latency_histogram),
        None => latency_histogram(),
    };
    Ok(Published {
        outcomes,
        published: sent_so_far
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect(),
        generator_lag,
        scheduled_in_window: schedule
            .as_ref()
            .map(|s| s.scheduled_between(window.start, window.end)),
    })
}

fn spawn_one<P: Publisher>(
    publisher: P,
    p: u32,
    schedule: &Option<Arc<Schedule>>,
    flow: &Arc<FlowControl>,
    publishing: Publishing,
    plan: Plan,
) -> JoinHandle<PublishOutcome<P>> {
    match schedule {
        Some(s) => tokio::spawn(open_loop(publisher, p, s.clone(), publishing)),
        None => {
            let flow = flow.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(plan.start.into()).await;
                match flow.window(p) {
                    Some(window) => closed_loop(publisher, p, window, publishing, plan.end).await,
                    // Flow control has a window for every publisher of a closed-loop run: one
                    // missing is the harness's bug, reported rather than sending unpaced.
                    None => PublishOutcome {
                        error: Some(format!("no flow-control window for publisher {p}")),
                        ..PublishOutcome::new(publisher)
                    },
                }
            })
        }
    }
}

/// Waits for every publisher until `deadline`, aborting those still running.
async fn collect<P>(
    tasks: Vec<JoinHandle<PublishOutcome<P>>>,
    deadline: tokio::time::Instant,
    failures: &mut Failures,
) -> Vec<Option<PublishOutcome<P>>> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (p, mut task) in tasks.into_iter().enumerate() {
        outcomes.push(match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok(o)) => {
                if let Some(e) = &o.error {
                    failures.add(FailureKind::Publisher, format!("publisher {p}: {e}"));
                }
                Some(o)
            }
            Ok(Err(join)) => {
                failures.add(
                    FailureKind::Publisher,
                    format!("publisher {p} task failed: {join}"),
                );
                None
            }
            Err(_) => {
                task.abort();
                failures.add(
                    FailureKind::Publisher,
                    format!("publisher {p} did not finish publishing in time"),
                );
                None
            }
        });
    }
    outcomes
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
