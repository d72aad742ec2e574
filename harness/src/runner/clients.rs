//! The client side of a run after setup: starting and stopping the subscribers' receive loops,
//! the drain bookkeeping the coordinator waits on, and closing every client under one deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use transport_core::{Publisher, Subscriber, Transport, clock};

use super::faults::{FaultTracker, SubscriberTally};
use super::flow::FlowControl;
use super::recorder::{RunShared, SubscriberRecorder};
use crate::results::{FailureKind, Failures};
use crate::scenario::Scenario;

/// Bound on stopping subscribers, and on closing every client.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Progress of one subscriber, visible to the coordinator while it drains.
#[derive(Debug, Default)]
pub struct SubProgress {
    /// Distinct messages received so far.
    pub unique: AtomicU64,
    /// Messages it should receive; `u64::MAX` until publishing ends.
    pub target: AtomicU64,
    /// Whether it was counted in [`Drain::done`].
    pub done: AtomicBool,
}

/// What the coordinator waits on while subscribers catch up after the last publish.
pub struct Drain {
    /// One per subscriber, by id.
    pub subs: Vec<SubProgress>,
    /// Subscribers that reached their target (or failed).
    pub done: AtomicU64,
    /// Woken whenever `done` grows.
    pub wake: Notify,
}

impl Drain {
    pub fn check(&self, i: usize) {
        let s = &self.subs[i];
        if s.unique.load(Ordering::SeqCst) >= s.target.load(Ordering::SeqCst)
            && !s.done.swap(true, Ordering::SeqCst)
        {
            self.done.fetch_add(1, Ordering::SeqCst);
            self.wake.notify_one();
        }
    }
}

/// What a receive loop hands back: the subscriber (for closing), its recorder and fault tally,
/// and the error that ended it, if any.
pub type Receipt<S> = (S, (SubscriberRecorder, SubscriberTally), Option<String>);

/// What one receive loop records into and tells: its recorder, its fault tally, the run's
/// fault tracker, and the publishers' flow control (credits for first copies).
type Listeners = (
    SubscriberRecorder,
    SubscriberTally,
    Arc<FaultTracker>,
    Arc<FlowControl>,
);

pub async fn receive<S: Subscriber>(
    mut sub: S,
    (mut rec, mut tally, tracker, flow): Listeners,
    i: usize,
    drain: Arc<Drain>,
    stop: CancellationToken,
) -> Receipt<S> {
    let mut buf = Vec::with_capacity(64);
    let err = loop {
        buf.clear();
        let res = tokio::select! {
            biased;
            _ = stop.cancelled() => break None,
            r = sub.recv(&mut buf) => r,
        };
        match res {
            Ok(_) => {
                let now = sub.received_at_ns().unwrap_or_else(clock::now_ns);
                record(&mut rec, &buf, now, (&flow, &mut tally, &tracker));
                drain.subs[i].unique.store(rec.unique(), Ordering::SeqCst);
                drain.check(i);
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    rec.flush();
    // A subscriber that failed counts as done: waiting for it would only stretch the drain.
    drain.subs[i].unique.store(u64::MAX, Ordering::SeqCst);
    if err.is_some() {
        drain.check(i);
    }
    (sub, (rec, tally), err)
}

/// Records one delivery unit: the recorder decodes each message once and tells the closed-loop
/// window and the fault tally of it. Who listens is settled once per unit, not asked per
/// message: in a closed loop at millions of messages per second a check per message per
/// listener is a measurable share of the load generator's cost.
fn record(
    rec: &mut SubscriberRecorder,
    buf: &[Bytes],
    now: u64,
    (flow, tally, tracker): (&FlowControl, &mut SubscriberTally, &FaultTracker),
) {
    match (flow.is_closed_loop(), tracker.is_empty()) {
        (false, true) => rec.on_unit(buf, now),
        (true, true) => rec.on_unit_observed(buf, now, &mut flow.credits()),
        (false, false) => rec.on_unit_observed(buf, now, &mut tally.unit(tracker, now)),
        (true, false) => {
            let mut both = (flow.credits(), tally.unit(tracker, now));
            rec.on_unit_observed(buf, now, &mut both);
        }
    }
}

/// The subscribers' receive loops, and what the coordinator uses to drain and stop them.
pub struct Receiving<S> {
    /// One per subscriber, by id.
    pub tasks: Vec<JoinHandle<Receipt<S>>>,
    /// What the drain phase waits on.
    pub drain: Arc<Drain>,
    /// Which faults fired when, as the receive loops see it.
    pub tracker: Arc<FaultTracker>,
    /// Cancelled to end every receive loop.
    pub stop: CancellationToken,
}

/// What the subscribers' tasks handed back.
pub struct Received<S> {
    /// By subscriber id; `None` where its task failed or hung.
    pub recorders: Vec<Option<SubscriberRecorder>>,
    /// The subscribers that came back, for closing.
    pub subs: Vec<S>,
    /// Fault tallies by subscriber id.
    pub tallies: Vec<(usize, SubscriberTally)>,
}

/// Puts a subscriber's fresh recorder in its consumer class (by subscriber id).
pub type Classify<'a> = &'a dyn Fn(SubscriberRecorder, u32) -> SubscriberRecorder;

/// Spawns one receive loop per subscriber.
pub fn start_receiving<S: Subscriber>(
    subscribers: Vec<S>,
    shared: &Arc<RunShared>,
    flow: &Arc<FlowControl>,
    (scenario, classify, cuts): (&Scenario, Classify<'_>, &dyn Fn(u32) -> Vec<u64>),
) -> Receiving<S> {
    let drain = Arc::new(Drain {
        subs: (0..subscribers.len())
            .map(|_| SubProgress {
                target: AtomicU64::new(u64::MAX),
                ..Default::default()
            })
            .collect(),
        done: AtomicU64::new(0),
        wake: Notify::new(),
    });
    let tracker = Arc::new(FaultTracker::new(scenario.faults.len()));
    let stop = CancellationToken::new();
    let tasks = subscribers
        .into_iter()
        .enumerate()
        .map(|(i, sub)| {
            let rec = classify(SubscriberRecorder::new(shared.clone(), i as u32), i as u32);
            let tally = SubscriberTally::new(scenario.publishers, scenario.faults.len())
                .with_cuts(cuts(i as u32));
            tokio::spawn(receive(
                sub,
                (rec, tally, tracker.clone(), flow.clone()),
                i,
                drain.clone(),
                stop.clone(),
            ))
        })
        .collect();
    Receiving {
        tasks,
        drain,
        tracker,
        stop,
    }
}

/// Collects every subscriber's recorder (the tasks were told to stop), under one deadline.
pub async fn stop_receiving<S>(
    tasks: Vec<JoinHandle<Receipt<S>>>,
    failures: &mut Failures,
) -> Received<S> {
    let mut out = Received {
        recorders: Vec::new(),
        subs: Vec::new(),
        tallies: Vec::new(),
    };
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    for (i, mut task) in tasks.into_iter().enumerate() {
        let rec = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(Ok((sub, (rec, tally), err))) => {
                if let Some(e) = err {
                    failures.add(FailureKind::Subscriber, format!("subscriber {i}: {e}"));
                }
                out.subs.push(sub);
                out.tallies.push((i, tally));
                Some(rec)
            }
            Ok(Err(join)) => {
                failures.add(
                    FailureKind::Subscriber,
                    format!("subscriber {i} task failed: {join}"),
                );
                None
            }
            Err(_) => {
                task.abort();
                failures.add(
                    FailureKind::Subscriber,
                    format!("subscriber {i} did not stop in time"),
                );
                None
            }
        };
        out.recorders.push(rec);
    }
    out
}

/// Closes every client concurrently under one deadline; problems are added to `failures`.
pub async fn close_all<T: Transport>(
    subs: Vec<T::Subscriber>,
    pubs: Vec<T::Publisher>,
    failures: &mut Failures,
) {
    // Concurrently, under one deadline: a transport that hangs on close costs CLOSE_TIMEOUT
    // once, not once per client.
    let mut closing = tokio::task::JoinSet::new();
    for (i, s) in subs.into_iter().enumerate() {
        closing.spawn(async move { (format!("subscriber {i}"), s.close().await) });
    }
    for (i, p) in pubs.into_iter().enumerate() {
        closing.spawn(async move { (format!("publisher {i}"), p.close().await) });
    }
    let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, closing.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok((_, Ok(()))))) => {}
            Ok(Some(Ok((who, Err(e))))) => {
                failures.add(FailureKind::Close, format!("closing {who}: {e}"))
            }
            Ok(Some(Err(join))) => {
                failures.add(FailureKind::Close, format!("closing task failed: {join}"))
            }
            Err(_) => {
                failures.add(
                    FailureKind::Close,
                    format!(
                        "{} clients did not close within {CLOSE_TIMEOUT:?}",
                        closing.len()
                    ),
                );
                closing.abort_all();
                break;
            }
        }
    }
}
