//! Per-topic server state: the bounded resume buffer (the topic log), the subscribers' bounded
//! send queues, and the fan-out that applies the slow-consumer policy.
//!
//! Each topic sits behind one async mutex. Publishing appends to the log and offers the message
//! to every subscriber queue while holding it, so every subscriber sees positions in order. With
//! the `block` policy a full queue makes the publisher wait *inside* that lock: the wait stalls
//! every publisher of the topic, and through their unread sockets, the publishing clients. That
//! is the documented backpressure, not an accident.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, oneshot};
use transport_core::occupancy::{QueueGauges, QueueShare, RetainedGauges};
use transport_core::{Counter, Counters};

use crate::SlowConsumer;

/// A message and its topic position, as queued for one subscriber.
pub(crate) type Item = (u64, Bytes);

/// Topics a server creates at most, so a client cannot exhaust memory with names.
const MAX_TOPICS: usize = 10_000;

/// How much of its log a topic keeps for resuming subscribers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Messages kept at most.
    pub(crate) messages: usize,
    /// Message bytes kept at most (the newest message is always kept).
    pub(crate) bytes: usize,
}

/// Server-side counters and gauges of the fan-out.
#[derive(Debug, Clone)]
pub(crate) struct FanoutCounters {
    slow_disconnects: Counter,
    block_waits: Counter,
    blocked_ns: Counter,
    evicted: Counter,
    /// Messages in subscribers' send queues and pending lists.
    queued: QueueGauges,
    /// Messages in the topics' resume buffers.
    retained: RetainedGauges,
}

impl FanoutCounters {
    pub(crate) fn new(c: &Counters) -> Self {
        FanoutCounters {
            slow_disconnects: c.counter("server_slow_consumer_disconnects"),
            block_waits: c.counter("server_block_waits"),
            blocked_ns: c.counter("server_publish_blocked_ns"),
            evicted: c.counter("server_buffer_evictions"),
            queued: QueueGauges::register(c),
            retained: RetainedGauges::register(c),
        }
    }
}

/// All topics of one server, created on first use.
#[derive(Default)]
pub(crate) struct Topics(StdMutex<HashMap<String, Arc<Topic>>>);

impl Topics {
    /// The topic called `name`, created if there is room for another.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Topic>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = map.get(name) {
            return Some(t.clone());
        }
        if map.len() >= MAX_TOPICS {
            return None;
        }
        let t = Arc::new(Topic::default());
        map.insert(name.to_owned(), t.clone());
        Some(t)
    }
}

struct Sub {
    tx: mpsc::Sender<Item>,
    /// What waits for this subscriber, in the server's queue gauges.
    queued: Arc<QueueShare>,
    /// Fired with the position that did not fit when the queue overflows under `disconnect`.
    kick: oneshot::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// Messages at positions `base..base + log.len()`.
    log: VecDeque<Bytes>,
    /// Sum of the lengths in `log`.
    log_bytes: usize,
    base: u64,
    subs: Vec<Sub>,
}

impl State {
    fn next(&self) -> u64 {
        self.base + self.log.len() as u64
    }
}

/// One topic: its log and its subscribers.
#[derive(Default)]
pub(crate) struct Topic(Mutex<State>);

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// At the live edge: only messages published from now on.
    Live,
    /// At this position (a resume).
    At(u64),
    /// At the oldest message held (a resume whose position came from another server epoch).
    Oldest,
}

/// The outcome of a subscription request.
pub(crate) enum Join {
    /// Subscribed: send `replay` first, then whatever arrives on `rx`, until `kick` fires.
    Live {
        /// Position of the first message this subscriber gets.
        position: u64,
        /// Buffered messages from `from` up to the live edge.
        replay: VecDeque<Item>,
        /// Live messages.
        rx: mpsc::Receiver<Item>,
        /// Fires when the slow-consumer policy drops this subscriber.
        kick: oneshot::Receiver<u64>,
        /// `replay` and `rx` in the server's queue gauges: remove what is sent.
        queued: Arc<QueueShare>,
    },
    /// `from` is older than the buffer; `earliest` is the oldest position held.
    Gap {
        /// Oldest position held.
        earliest: u64,
    },
    /// `from` is beyond the live edge `next`.
    Ahead {
        /// The live edge.
        next: u64,
    },
}

impl Topic {
    /// Registers a subscriber starting at `start` with a send queue of `queue` messages.
    pub(crate) async fn subscribe(
        &self,
        start: Start,
        queue: usize,
        counters: &FanoutCounters,
    ) -> Join {
        let mut st = self.0.lock().await;
        let next = st.next();
        let from = match start {
            Start::Live => next,
            Start::At(from) => from,
            Start::Oldest => st.base,
        };
        if from < st.base {
            return Join::Gap { earliest: st.base };
        }
        if from > next {
            return Join::Ahead { next };
        }
        // Bounded by the resume buffer; clones are reference counts, not copies.
        let skip = usize::try_from(from - st.base).unwrap_or(usize::MAX);
        let replay: VecDeque<Item> = st
            .log
            .iter()
            .skip(skip)
            .zip(from..)
            .map(|(m, p)| (p, m.clone()))
            .collect();
        let queued = Arc::new(counters.queued.share());
        let bytes = replay.iter().map(|(_, m)| m.len() as u64).sum();
        queued.add(replay.len() as u64, bytes);
        let (tx, rx) = mpsc::channel(queue);
        let (kick_tx, kick) = oneshot::channel();
        st.subs.push(Sub {
            tx,
            queued: queued.clone(),
            kick: kick_tx,
        });
        Join::Live {
            position: from,
            replay,
            rx,
            kick,
            queued,
        }
    }

    /// Appends `msg` to the log (evicting beyond `keep`) and offers it to every subscriber,
    /// applying `policy` to full queues.
    #[cfg(test)]
    pub(crate) async fn publish(
        &self,
        msg: Bytes,
        keep: Retention,
        policy: SlowConsumer,
        counters: &FanoutCounters,
    ) {
        self.publish_many(std::slice::from_ref(&msg), keep, policy, counters)
            .await
    }

    /// Appends `msgs` in order, each as [`Topic::publish`] would, under one lock.
    pub(crate) async fn publish_many(
        &self,
        msgs: &[Bytes],
        keep: Retention,
        policy: SlowConsumer,
        counters: &FanoutCounters,
    ) {
        let mut st = self.0.lock().await;
        for msg in msgs {
            let pos = st.append(msg, keep, counters);
            st.offer(pos, msg, policy, counters).await;
        }
        // Test-only planted cost per subscriber copy (`test-knobs` builds only; zero and never
        // read otherwise), spent under the topic lock like real fan-out work.
        let copies = msgs.len() * st.subs.len();
        transport_core::test_knobs::plant_cpu("websocket", copies as u64);
    }
}

impl State {
    /// Appends `msg` to the log, evicting beyond `keep`; returns its position.
    fn append(&mut self, msg: &Bytes, keep: Retention, counters: &FanoutCounters) -> u64 {
        let pos = self.next();
        self.log_bytes += msg.len();
        self.log.push_back(msg.clone());
        counters.retained.add(1, msg.len() as u64);
        while self.log.len() > keep.messages || (self.log_bytes > keep.bytes && self.log.len() > 1)
        {
            if let Some(old) = self.log.pop_front() {
                self.log_bytes -= old.len();
                counters.retained.remove(1, old.len() as u64);
                self.base += 1;
                counters.evicted.inc();
            }
        }
        pos
    }

    /// Offers `msg` at `pos` to every subscriber, applying `policy` to full queues.
    async fn offer(
        &mut self,
        pos: u64,
        msg: &Bytes,
        policy: SlowConsumer,
        counters: &FanoutCounters,
    ) {
        let mut i = 0;
        while i < self.subs.len() {
            let sub = &self.subs[i];
            // Counted before the send, so the connection never removes more than was added.
            sub.queued.add(1, msg.len() as u64);
            match sub.tx.try_send((pos, msg.clone())) {
                Ok(()) => i += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.subs.swap_remove(i).queued.remove(1, msg.len() as u64);
                }
                Err(mpsc::error::TrySendError::Full(item)) => match policy {
                    SlowConsumer::Disconnect => {
                        counters.slow_disconnects.inc();
                        let sub = self.subs.swap_remove(i);
                        sub.queued.remove(1, msg.len() as u64);
                        // The connection may be gone already; then there is nobody to tell.
                        let _ = sub.kick.send(pos);
                    }
                    SlowConsumer::Block => {
                        counters.block_waits.inc();
                        let waited = std::time::Instant::now();
                        let sent = self.subs[i].tx.send(item).await.is_ok();
                        counters.blocked_ns.add(waited.elapsed().as_nanos() as u64);
                        if sent {
                            i += 1;
                        } else {
                            self.subs.swap_remove(i).queued.remove(1, msg.len() as u64);
                        }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(messages: usize, bytes: usize) -> Retention {
        Retention { messages, bytes }
    }

    #[tokio::test]
    async fn byte_bound_evicts_oldest_but_keeps_the_newest() {
        let t = Topic::default();
        let c = counters();
        for _ in 0..4 {
            t.publish(
                Bytes::from(vec![0; 40]),
                keep(100, 100),
                SlowConsumer::Block,
                &c,
            )
            .await;
        }
        assert!(matches!(
            t.subscribe(Start::At(1), 4, &c).await,
            Join::Gap { earliest: 2 }
        ));
        t.publish(
            Bytes::from(vec![0; 500]),
            keep(100, 100),
            SlowConsumer::Block,
            &c,
        )
        .await;
        assert!(matches!(
            t.subscribe(Start::At(3), 4, &c).await,
            Join::Gap { earliest: 4 }
        ));
    }

    fn counters() -> FanoutCounters {
        FanoutCounters::new(&Counters::new())
    }

    #[tokio::test]
    async fn replays_from_buffer_and_refuses_evicted_positions() {
        let t = Topic::default();
        let c = counters();
        for i in 0..5u8 {
            t.publish(Bytes::from(vec![i]), keep(3, 1024), SlowConsumer::Block, &c)
                .await;
        }
        assert!(matches!(
            t.subscribe(Start::At(1), 4, &c).await,
            Join::Gap { earliest: 2 }
        ));
        assert!(matches!(
            t.subscribe(Start::At(6), 4, &c).await,
            Join::Ahead { next: 5 }
        ));
        let Join::Live {
            position, replay, ..
        } = t.subscribe(Start::At(3), 4, &c).await
        else {
            panic!("position 3 is buffered");
        };
        assert_eq!(position, 3);
        assert_eq!(
            replay.into_iter().collect::<Vec<_>>(),
            vec![(3, Bytes::from(vec![3])), (4, Bytes::from(vec![4]))]
        );
        // A position from another server epoch starts at the oldest message held.
        let Join::Live {
            position, replay, ..
        } = t.subscribe(Start::Oldest, 4, &c).await
        else {
            panic!("the oldest position is always buffered");
        };
        assert_eq!(position, 2);
        assert_eq!(replay.len(), 3);
    }

    #[tokio::test]
    async fn disconnect_policy_kicks_a_full_queue() {
        let t = Topic::default();
        let c = counters();
        let Join::Live { mut kick, rx, .. } = t.subscribe(Start::Live, 1, &c).await else {
            panic!("live");
        };
        t.publish(Bytes::new(), keep(8, 1024), SlowConsumer::Disconnect, &c)
            .await;
        assert!(kick.try_recv().is_err(), "one message fits the queue");
        t.publish(Bytes::new(), keep(8, 1024), SlowConsumer::Disconnect, &c)
            .await;
        assert_eq!(
            kick.try_recv(),
            Ok(1),
            "kicked at the position that did not fit"
        );
        assert_eq!(c.slow_disconnects.get(), 1);
        drop(rx);
    }
}
