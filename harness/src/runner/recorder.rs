//! What each subscriber records as messages arrive: latency samples, the delivery audit and
//! messages per delivery unit, plus the latency histograms all subscribers of a run share.
//!
//! The recorder is the one place a received message is decoded. Others that need to know what
//! arrived (closed-loop flow control, per-fault accounting) are told by [`Observe`] as it
//! decodes, rather than decoding again or reading the recorder's audit.
//!
//! Each subscriber owns its recorder (no locks per message). Latency samples wait in a short
//! buffer and are added to the run's histograms a batch at a time: one lock per batch, and no
//! histogram per subscriber, which at 10,000 subscribers would cost gigabytes of memory and
//! seconds of page faults inside the measured window.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hdrhistogram::Histogram;
use transport_core::Envelope;

use super::audit::{Arrival, PairAudit};
use super::lag::{LagTrack, UnitAges};
use super::observe::Observe;
use super::topic::shares_topic;

pub use crate::results::histogram::{MAX_TRACKABLE_NS, latency_histogram};

/// State every subscriber of a run shares.
#[derive(Debug)]
pub struct RunShared {
    /// Start of the measured window ([`transport_core::clock`] ns); messages intended earlier are
    /// warm-up: audited, not recorded.
    pub measure_start_ns: u64,
    /// End of the measured window.
    pub measure_end_ns: u64,
    /// Publishers in the run (valid envelope publisher ids are below this).
    pub publishers: u32,
    /// Topics in the run (see [`super::topic::topic_of`]).
    pub topics: u32,
    /// Exact size of every message; anything else arrived damaged.
    pub payload_len: usize,
    /// First copies received, all phases, all subscribers (for progress and draining).
    pub delivered_total: AtomicU64,
    /// Latency per second of the measured window (by receive time), merged over subscribers:
    /// a shard adds its second here when its subscribers move on to the next.
    intervals: Mutex<Vec<Histogram<u64>>>,
    /// The measured window's histograms, in a few shards so subscribers on different threads
    /// rarely wait for one another.
    shards: Vec<Mutex<Shard>>,
    /// Messages each publisher has handed over so far (index = publisher id), kept by the
    /// publishers: what a subscriber's backlog is measured against.
    pub published: Vec<Arc<AtomicU64>>,
    /// Latency from intended send per consumer class (slot 0: full speed, then the scenario's
    /// classes in order); empty for a run without classes.
    classes: Vec<Mutex<Histogram<u64>>>,
}

/// The latency histograms of the measured window.
#[derive(Debug)]
pub struct Latencies {
    /// Latency from intended send.
    pub latency: Histogram<u64>,
    /// Latency from actual send.
    pub from_send: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            latency: latency_histogram(),
            from_send: latency_histogram(),
        }
    }
}

/// One shard's share of the window: latency from intended send for the second its
/// subscribers are in, and latency from actual send. The whole window's latency from intended
/// send is the sum of the seconds, so it is not recorded a third time per message.
#[derive(Debug)]
struct Shard {
    second: u32,
    latency: Histogram<u64>,
    from_send: Histogram<u64>,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            second: 0,
            latency: latency_histogram(),
            from_send: latency_histogram(),
        }
    }
}

/// Histogram shards: more than the worker threads of most machines.
const LATENCY_SHARDS: usize = 8;
/// Samples a subscriber buffers before adding them to the shared histograms (runs of equal
/// samples count once).
const PENDING_SAMPLES: usize = 256;

/// Latencies from intended send and from actual send, shared by `count` consecutive messages.
///
/// A closed-loop batch is stamped at one instant and mostly arrives in one delivery unit, so
/// its messages have equal latencies: they are recorded as one sample with a count, exactly
/// as many as arrived (no sampling). In open loop every message has its own intended time and
/// each is a sample of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    latency: u64,
    from_send: u64,
    count: u64,
}

/// Adds one message's latencies to `pending`, merging them into the last sample if equal.
fn add_sample(pending: &mut Vec<Sample>, latency: u64, from_send: u64) {
    if let Some(last) = pending.last_mut()
        && last.latency == latency
        && last.from_send == from_send
    {
        last.count += 1;
        return;
    }
    pending.push(Sample {
        latency,
        from_send,
        count: 1,
    });
}

impl RunShared {
    /// Shared state for a run measuring messages intended in `window` (clock ns), with nothing
    /// delivered yet.
    pub fn new(
        window: std::ops::Range<u64>,
        publishers: u32,
        topics: u32,
        payload_len: usize,
    ) -> Arc<RunShared> {
        Arc::new(RunShared {
            measure_start_ns: window.start,
            measure_end_ns: window.end,
            publishers,
            topics,
            payload_len,
            delivered_total: AtomicU64::new(0),
            intervals: Mutex::new(Vec::new()),
            shards: (0..LATENCY_SHARDS).map(|_| Mutex::default()).collect(),
            published: (0..publishers).map(|_| Arc::default()).collect(),
            classes: Vec::new(),
        })
    }

    /// The same, with one latency histogram per consumer class slot (`slots` = classes + 1).
    pub fn with_classes(
        window: std::ops::Range<u64>,
        (publishers, topics): (u32, u32),
        payload_len: usize,
        slots: usize,
    ) -> Arc<RunShared> {
        let mut shared = Arc::into_inner(RunShared::new(window, publishers, topics, payload_len))
            .expect("a fresh Arc has one owner");
        shared.classes = (0..slots)
            .map(|_| Mutex::new(latency_histogram()))
            .collect();
        Arc::new(shared)
    }

    /// Latency from intended send of each consumer class slot (empty without classes).
    pub fn class_latencies(&self) -> Vec<Histogram<u64>> {
        self.classes
            .iter()
            .map(|h| h.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// Adds samples of a subscriber in class slot `slot` to that class's histogram.
    fn record_class(&self, slot: usize, samples: &[Sample]) {
        if let Some(h) = self.classes.get(slot) {
            let mut h = h.lock().unwrap_or_else(PoisonError::into_inner);
            for s in samples {
                h.saturating_record_n(s.latency, s.count);
            }
        }
    }

    /// Adds subscriber `subscriber`'s samples, all received in `second` of the window.
    fn record(&self, subscriber: u32, second: u32, samples: &[Sample]) {
        let mut shard = self.shards[subscriber as usize % LATENCY_SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for s in samples {
            shard.from_send.saturating_record_n(s.from_send, s.count);
        }
        if second > shard.second {
            self.fold(&mut shard);
            shard.second = second;
        }
        if second == shard.second {
            for s in samples {
                shard.latency.saturating_record_n(s.latency, s.count);
            }
        } else {
            // A subscriber still flushing a second its shard has left (rare): straight in.
            drop(shard);
            let mut slots = self.slots();
            let slot = slot(&mut slots, second);
            for s in samples {
                slot.saturating_record_n(s.latency, s.count);
            }
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Histogram<u64>>> {
        self.intervals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves a shard's current second into the per-second histograms.
    fn fold(&self, shard: &mut Shard) {
        if !shard.latency.is_empty() {
            let _ = slot(&mut self.slots(), shard.second).add(&shard.latency);
            shard.latency.reset();
        }
    }

    /// Latency per second of the measured window so far, all subscribers (every shard's
    /// current second included).
    pub fn intervals(&self) -> Vec<Histogram<u64>> {
        for shard in &self.shards {
            self.fold(&mut shard.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self.slots().clone()
    }

    /// Every subscriber's latencies so far, merged.
    pub fn latencies(&self) -> Latencies {
        self.latencies_from(&self.intervals())
    }

    /// The same, given [`RunShared::intervals`] just taken: the window's latency from intended
    /// send is their sum.
    pub fn latencies_from(&self, intervals: &[Histogram<u64>]) -> Latencies {
        let mut out = Latencies::default();
        for second in intervals {
            let _ = out.latency.add(second);
        }
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = out.from_send.add(&shard.from_send);
        }
        out
    }

    /// p99 of the most recent second any shard has moved past, for the progress line.
    pub fn recent_p99_ns(&self) -> Option<u64> {
        self.slots()
            .iter()
            .rev()
            .find(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.99))
    }
}

/// The histogram of `second`, made (with those before it) if it is not there yet.
fn slot(slots: &mut Vec<Histogram<u64>>, second: u32) -> &mut Histogram<u64> {
    let i = second as usize;
    while slots.len() <= i {
        slots.push(latency_histogram());
    }
    &mut slots[i]
}

/// One subscriber's recordings.
#[derive(Debug)]
pub struct SubscriberRecorder {
    /// Messages per delivery unit (non-empty units).
    pub units: Histogram<u64>,
    /// Delivery units with no message.
    pub empty_units: u64,
    /// Audit per publisher id.
    pub audits: Vec<PairAudit>,
    /// Messages whose envelope could not be decoded.
    pub corrupt: u64,
    /// Samples above [`MAX_TRACKABLE_NS`].
    pub overflow: u64,
    /// Messages from a publisher of another topic: the transport delivered them to the wrong
    /// subscriber. Not counted as deliveries.
    pub misrouted: u64,
    /// First copies received in the measured window (by receive time).
    pub delivered_in_window: u64,
    /// Measured-window samples not yet in the shared histograms, all from `interval_second`.
    pending: Vec<Sample>,
    interval_second: u32,
    /// Who this subscriber is: its id, and its consumer class slot in runs with classes.
    who: Who,
    /// How far it fell behind, in runs with consumer classes.
    pub lag: Option<Box<LagTrack>>,
    route: Route,
    shared: Arc<RunShared>,
}

/// Sequence numbers at or above this cannot come from a real run (a publisher would need
/// centuries to send them); such a message is damaged, and auditing it could only mislead.
const MAX_PLAUSIBLE_SEQ: u64 = 1 << 48;

impl SubscriberRecorder {
    /// A recorder for subscriber number `subscriber` of the run.
    pub fn new(shared: Arc<RunShared>, subscriber: u32) -> Self {
        SubscriberRecorder {
            units: Histogram::new(3).expect("valid precision"),
            empty_units: 0,
            audits: vec![PairAudit::default(); shared.publishers as usize],
            corrupt: 0,
            overflow: 0,
            misrouted: 0,
            delivered_in_window: 0,
            pending: Vec::new(),
            interval_second: 0,
            who: Who {
                subscriber,
                class: None,
            },
            lag: None,
            route: Route::new(subscriber, shared.topics),
            shared,
        }
    }

    /// Puts the subscriber in consumer class slot `slot` (its latency also goes to that
    /// class's histogram) and tracks its lag.
    pub fn classed(mut self, slot: usize, lag: LagTrack) -> Self {
        self.who.class = Some(slot);
        self.lag = Some(Box::new(lag));
        self
    }

    /// Its consumer class slot (0: full speed) in a run with classes.
    pub fn class_slot(&self) -> Option<usize> {
        self.who.class
    }

    /// Distinct messages received from all publishers so far.
    pub fn unique(&self) -> u64 {
        self.audits.iter().map(PairAudit::unique).sum()
    }

    /// Records one delivery unit received at `now_ns`, telling no one else.
    pub fn on_unit(&mut self, msgs: &[Bytes], now_ns: u64) {
        self.on_unit_observed(msgs, now_ns, &mut ());
    }

    /// Records one delivery unit received at `now_ns`, telling `observer` of every message
    /// meant for this subscriber as it is audited.
    pub fn on_unit_observed(&mut self, msgs: &[Bytes], now_ns: u64, observer: &mut impl Observe) {
        if msgs.is_empty() {
            self.empty_units += 1;
            return;
        }
        // `units` auto-resizes: `record` grows it, `saturating_record` would clamp.
        if self.units.record(msgs.len() as u64).is_err() {
            self.units.saturating_record(msgs.len() as u64);
        }
        // A borrow of one field, not an Arc clone: no atomic increment per delivery unit.
        let shared = &*self.shared;
        let in_window_rx = now_ns >= shared.measure_start_ns;
        if in_window_rx {
            let second = ((now_ns - shared.measure_start_ns) / 1_000_000_000) as u32;
            if second != self.interval_second {
                flush(shared, self.who, self.interval_second, &mut self.pending);
                self.interval_second = second;
            }
        }
        let mut fresh = 0;
        // Ages are only wanted for a lag track (runs with consumer classes): no per-message
        // work for the rest.
        let track_ages = self.lag.is_some();
        let mut ages = UnitAges::EMPTY;
        for m in msgs {
            let Some(env) = Envelope::decode(m).filter(|e| {
                e.publisher < shared.publishers
                    && e.seq < MAX_PLAUSIBLE_SEQ
                    && m.len() == shared.payload_len
            }) else {
                self.corrupt += 1;
                continue;
            };
            if !self.route.admits(env.publisher) {
                self.misrouted += 1;
                continue;
            }
            let arrival = self.audits[env.publisher as usize].record(env.seq);
            observer.arrived(&env, arrival);
            if arrival == Arrival::Duplicate {
                continue;
            }
            fresh += 1;
            if track_ages {
                ages.add(env.intended_ns);
            }
            if env.intended_ns < shared.measure_start_ns || env.intended_ns >= shared.measure_end_ns
            {
                continue;
            }
            let latency = now_ns.saturating_sub(env.intended_ns).max(1);
            if latency > MAX_TRACKABLE_NS {
                self.overflow += 1;
            }
            let from_send = now_ns.saturating_sub(env.sent_ns).max(1);
            add_sample(&mut self.pending, latency, from_send);
        }
        observer.unit_done();
        if let Some(lag) = &mut self.lag {
            lag.observe((now_ns, fresh), ages, &shared.published, &self.audits);
        }
        if self.pending.len() >= PENDING_SAMPLES {
            flush(shared, self.who, self.interval_second, &mut self.pending);
        }
        if in_window_rx && now_ns < shared.measure_end_ns {
            self.delivered_in_window += fresh;
        }
        shared.delivered_total.fetch_add(fresh, Relaxed);
    }

    /// Adds the buffered samples to the run's shared histograms.
    pub fn flush(&mut self) {
        flush(
            &self.shared,
            self.who,
            self.interval_second,
            &mut self.pending,
        );
    }
}

/// Which publishers' messages belong to one subscriber: those of its topic.
#[derive(Debug)]
struct Route {
    subscriber: u32,
    topics: u32,
    /// The last publisher asked about, and the answer: a unit's messages mostly come from
    /// one publisher, and the check is a division.
    last: (u32, bool),
}

impl Route {
    fn new(subscriber: u32, topics: u32) -> Route {
        Route {
            subscriber,
            topics,
            last: (0, shares_topic(0, subscriber, topics)),
        }
    }

    fn admits(&mut self, publisher: u32) -> bool {
        if publisher != self.last.0 {
            let shared = shares_topic(publisher, self.subscriber, self.topics);
            self.last = (publisher, shared);
        }
        self.last.1
    }
}

/// A subscriber's id and, in runs with consumer classes, its class slot.
#[derive(Debug, Clone, Copy)]
struct Who {
    subscriber: u32,
    class: Option<usize>,
}

/// Moves `pending` (all received in `second`) into `shared`'s histograms. A free function, so
/// the receive path can call it while it holds a borrow of the recorder's shared state.
fn flush(shared: &RunShared, who: Who, second: u32, pending: &mut Vec<Sample>) {
    if !pending.is_empty() {
        shared.record(who.subscriber, second, pending);
        if let Some(slot) = who.class {
            shared.record_class(slot, pending);
        }
        pending.clear();
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
