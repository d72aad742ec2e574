//! The server's per-topic state: a bounded log of recent messages, so a subscriber whose
//! connection broke resumes exactly where it was, and the live subscribers' queues.
//!
//! One async lock per topic orders everything: messages are appended to the log and handed to
//! every live queue under it, and a subscription reads its backlog and joins the queues under
//! it. So positions are implicit (both ends count frames) and no message is missed or repeated
//! at the seam between backlog and live queue, which is what lets the wire stay bare frames.
//!
//! Messages travel through the server as [`Frames`]: the frames a publisher wrote, as one read
//! delivered them, which are byte for byte what a subscriber must receive. The log and every
//! queue hold one handle per such run of messages, not one per message, and a subscriber's
//! write is a copy of them: relaying costs the server per read, not per message.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use transport_core::occupancy::{QueueGauges, QueueShare, RetainedGauges};
use transport_core::{Counter, Counters};

use crate::proto::{FRAME_HEADER_LEN, frame_len};
use crate::{RawTcpConfig, SlowConsumer};

/// Per-message bookkeeping added to the payload length when sizing the log, so a flood of
/// tiny messages is bounded too.
const ENTRY_OVERHEAD: usize = 32;
/// Topics a server holds at most: each may retain up to `retain_bytes`, so names sent by
/// clients must not create them without bound.
pub const MAX_TOPICS: usize = 1024;

/// `count` consecutive messages, encoded as back-to-back frames (4-byte length, body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    bytes: Bytes,
    count: usize,
}

impl Frames {
    /// Wraps `bytes`, which must hold exactly `count` complete, non-empty frames (as
    /// [`crate::proto::scan_frames`] found them).
    pub fn from_encoded(bytes: Bytes, count: usize) -> Frames {
        Frames { bytes, count }
    }

    /// The frames of `bodies`, in order.
    #[cfg(test)]
    pub fn encode(bodies: &[&[u8]]) -> Frames {
        let mut out = Vec::new();
        for b in bodies {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Frames::from_encoded(out.into(), bodies.len())
    }

    /// The encoded frames.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Messages held.
    pub fn count(&self) -> usize {
        self.count
    }

    /// What the log charges for them: their bodies plus [`ENTRY_OVERHEAD`] each.
    fn cost(&self) -> usize {
        self.bytes.len() - FRAME_HEADER_LEN * self.count + ENTRY_OVERHEAD * self.count
    }

    /// Body length of the frame at byte `at`.
    fn body_at(&self, at: usize) -> usize {
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(&self.bytes[at..at + FRAME_HEADER_LEN]);
        frame_len(h)
    }

    /// The frames from message `skip` on (a resume that starts inside this run, or a
    /// confirmation that ends inside it).
    pub(crate) fn skip(&self, skip: usize) -> Frames {
        let mut at = 0;
        for _ in 0..skip {
            at += FRAME_HEADER_LEN + self.body_at(at);
        }
        Frames::from_encoded(self.bytes.slice(at..), self.count - skip)
    }

    /// The fewest leading messages (at most `max`) whose cost reaches `cost`: their count,
    /// their cost, and the byte where the rest starts.
    fn prefix_costing(&self, cost: usize, max: usize) -> (usize, usize, usize) {
        let (mut n, mut spent, mut at) = (0, 0, 0);
        while spent < cost && n < max {
            let body = self.body_at(at);
            spent += body + ENTRY_OVERHEAD;
            at += FRAME_HEADER_LEN + body;
            n += 1;
        }
        (n, spent, at)
    }

    /// Appends the message bodies, in order, to `out`: slices of this run's buffer, with no
    /// copy and no allocation of their own.
    pub fn push_bodies(&self, out: &mut Vec<Bytes>) {
        let mut at = 0;
        for _ in 0..self.count {
            let mut h = [0u8; FRAME_HEADER_LEN];
            h.copy_from_slice(&self.bytes[at..at + FRAME_HEADER_LEN]);
            let body = at + FRAME_HEADER_LEN;
            at = body + frame_len(h);
            out.push(self.bytes.slice(body..at));
        }
    }

    /// The message bodies, in order.
    #[cfg(test)]
    pub fn bodies(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.push_bodies(&mut out);
        out
    }
}

/// Where a new subscription starts, and what it gets before the live queue.
pub struct Subscription {
    /// Position of the first message the subscriber receives.
    pub start: u64,
    /// Retained messages from `start` up to the live edge, in order.
    pub backlog: Vec<Frames>,
    /// Everything appended after the backlog.
    pub queue: Queued,
    /// Messages the subscriber asked for that the log no longer held.
    pub skipped: u64,
    /// Whether the subscriber's position belonged to another server incarnation.
    pub epoch_reset: bool,
}

/// The receiving end of a subscriber's queue.
pub struct Queued {
    rx: mpsc::UnboundedReceiver<Frames>,
    room: Arc<Room>,
}

impl Queued {
    /// Waits for queued runs and moves up to `max` of them into `out`; 0 only if the topic
    /// dropped the queue.
    pub async fn recv_many(&mut self, out: &mut Vec<Frames>, max: usize) -> usize {
        self.rx.recv_many(out, max).await
    }

    /// Frees the room of `count` messages of `bytes` the subscriber has written.
    pub fn written(&self, count: usize, bytes: usize) {
        self.room.give_back(count, bytes);
    }

    /// Cancelled when the `disconnect` policy drops this subscriber.
    pub fn kicked(&self) -> CancellationToken {
        self.room.kicked.clone()
    }
}

/// A queue's capacity, counted in messages: publishers take room for a whole run under the
/// topic lock, the subscriber gives it back once the run is written. Only publishers take, and
/// only under the lock, so room seen there is still there when taken: nobody holds part of
/// it while waiting for the rest. The count lives in the subscriber's share of the server's
/// queue gauges, so the gauges and the capacity check cannot disagree.
struct Room {
    queued: QueueShare,
    capacity: usize,
    freed: Notify,
    /// Cancelled when the `disconnect` policy drops the subscriber.
    kicked: CancellationToken,
}

impl Room {
    fn fits(&self, n: usize) -> bool {
        self.queued.messages() as usize + n <= self.capacity
    }

    fn take(&self, n: usize, bytes: usize) {
        self.queued.add(n as u64, bytes as u64);
    }

    fn give_back(&self, n: usize, bytes: usize) {
        self.queued.remove(n as u64, bytes as u64);
        self.freed.notify_waiters();
    }

    /// Returns once `n` more messages fit.
    async fn wait_for(&self, n: usize) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a give-back in between is not missed.
            freed.as_mut().enable();
            if self.fits(n) {
                return;
            }
            freed.await;
        }
    }
}

/// The topic's end of a subscriber's queue.
struct Queue {
    tx: mpsc::UnboundedSender<Frames>,
    room: Arc<Room>,
}

/// How a topic fans out: its retention, what a full queue does, and the server-wide gauges and
/// counters its log and queues report to.
pub struct Fanout {
    /// Bytes of recent messages kept for resuming subscribers (`retain_bytes`).
    pub retain_bytes: usize,
    /// Messages each subscriber's queue holds at most (`queue_capacity`).
    pub queue_capacity: usize,
    /// The slow-consumer policy.
    pub slow_consumer: SlowConsumer,
    /// Gauges of every topic's retained log.
    pub retained: RetainedGauges,
    /// Gauges of every subscriber's queue.
    pub queued: QueueGauges,
    /// Nanoseconds publishers spent waiting for a full queue (`block`).
    pub blocked_ns: Counter,
    /// Subscribers closed because their queue was full (`disconnect`).
    pub disconnects: Counter,
}

impl Fanout {
    /// The fan-out of a server with `config`, reporting to `counters`.
    pub fn new(config: &RawTcpConfig, counters: &Counters) -> Fanout {
        Fanout {
            retain_bytes: config.retain_bytes,
            queue_capacity: config.queue_capacity,
            slow_consumer: config.slow_consumer,
            retained: RetainedGauges::register(counters),
            queued: QueueGauges::register(counters),
            blocked_ns: counters.counter("server_publish_blocked_ns"),
            disconnects: counters.counter("server_slow_consumer_disconnects"),
        }
    }
}

#[derive(Default)]
struct State {
    /// Position of the first message of `ring[0]`.
    base: u64,
    ring: VecDeque<Frames>,
    /// Messages in `ring`.
    ring_count: u64,
    ring_bytes: usize,
    subs: Vec<Queue>,
}

impl State {
    fn head(&self) -> u64 {
        self.base + self.ring_count
    }

    /// Drops the oldest messages until the log costs at most `retain_bytes`, message by
    /// message (a run is cut, not dropped whole), always keeping the newest message.
    fn evict(&mut self, retain_bytes: usize, gauges: &RetainedGauges) {
        while self.ring_bytes > retain_bytes && self.ring_count > 1 {
            let Some(front) = self.ring.front_mut() else {
                return;
            };
            let most = front.count.min((self.ring_count - 1) as usize);
            let excess = self.ring_bytes - retain_bytes;
            if most == front.count && front.cost() <= excess {
                // The whole run goes: no need to walk its frames.
                let gone = front.count;
                gauges.remove(gone as u64, front.bytes.len() as u64);
                self.ring_bytes -= front.cost();
                self.ring_count -= gone as u64;
                self.base += gone as u64;
                self.ring.pop_front();
                continue;
            }
            let (n, cost, at) = front.prefix_costing(excess, most);
            gauges.remove(n as u64, at as u64);
            if n == front.count {
                self.ring.pop_front();
            } else {
                *front = Frames::from_encoded(front.bytes.slice(at..), front.count - n);
            }
            self.ring_bytes -= cost;
            self.ring_count -= n as u64;
            self.base += n as u64;
        }
    }

    /// Appends `frames` to the log and to every live queue.
    fn push(&mut self, frames: &Frames, fanout: &Fanout) {
        let n = frames.count;
        self.ring_bytes += frames.cost();
        self.ring_count += n as u64;
        self.ring.push_back(frames.clone());
        fanout.retained.add(n as u64, frames.bytes.len() as u64);
        self.evict(fanout.retain_bytes, &fanout.retained);
        let mut gone = false;
        for q in &self.subs {
            // Room is taken before the send, so the subscriber cannot give back more than was
            // taken; a failed send leaves it in a room that is dropped with the queue.
            q.room.take(n, frames.bytes.len());
            gone |= q.tx.send(frames.clone()).is_err();
        }
        if gone {
            self.subs.retain(|q| !q.tx.is_closed());
        }
    }

    /// Drops every live queue without room for `n` more messages (`disconnect`): its
    /// connection closes, and the subscriber resumes from the log.
    fn kick_full(&mut self, n: usize, disconnects: &Counter) {
        self.subs.retain(|q| {
            let full = !q.room.fits(n) && !q.tx.is_closed();
            if full {
                q.room.kicked.cancel();
                disconnects.inc();
            }
            !full
        });
    }

    /// The retained messages from position `start` (between `base` and the head) on.
    fn backlog(&self, start: u64) -> Vec<Frames> {
        let mut pos = self.base;
        let mut out = Vec::new();
        for frames in &self.ring {
            let end = pos + frames.count as u64;
            if end > start {
                out.push(frames.skip(start.saturating_sub(pos) as usize));
            }
            pos = end;
        }
        out
    }
}

/// One topic: its log and its subscribers.
#[derive(Default)]
pub struct Topic(tokio::sync::Mutex<State>);

impl Topic {
    /// Appends `frames` and hands them to every live subscriber under one lock. A queue without
    /// room for all of them meets the fan-out's policy: `block` waits until it has room
    /// (backpressure, never a drop; the wait is added to `blocked_ns`), `disconnect` drops that
    /// subscriber, which resumes from the log. They must not outnumber a queue's capacity.
    /// Returns false if `stop` completed while waiting.
    pub async fn append<F: Future<Output = ()>>(
        &self,
        frames: &Frames,
        fanout: &Fanout,
        stop: &mut std::pin::Pin<&mut F>,
    ) -> bool {
        let n = frames.count;
        loop {
            let mut st = self.0.lock().await;
            if fanout.slow_consumer == SlowConsumer::Disconnect {
                st.kick_full(n, &fanout.disconnects);
            }
            // Nobody waits while holding the lock, so a subscriber that stopped reading
            // cannot keep others from subscribing.
            let full = st
                .subs
                .iter()
                .find(|q| !q.room.fits(n) && !q.tx.is_closed())
                .map(|q| (q.room.clone(), q.tx.clone()));
            let Some((room, tx)) = full else {
                st.push(frames, fanout);
                return true;
            };
            drop(st);
            let waited = std::time::Instant::now();
            let stopped = tokio::select! {
                _ = stop.as_mut() => true,
                _ = room.wait_for(n) => false,
                // A subscriber that left will never make room.
                _ = tx.closed() => false,
            };
            fanout.blocked_ns.add(waited.elapsed().as_nanos() as u64);
            if stopped {
                return false;
            }
        }
    }

    /// Registers a subscriber that wants messages from `from` in incarnation `epoch` (0: a new
    /// subscription at the live edge). `server_epoch` is this incarnation's.
    pub async fn subscribe(
        &self,
        server_epoch: u64,
        epoch: u64,
        from: u64,
        fanout: &Fanout,
    ) -> Result<Subscription, String> {
        let mut st = self.0.lock().await;
        let head = st.head();
        let epoch_reset = epoch != 0 && epoch != server_epoch;
        let start = if epoch == 0 {
            head
        } else if epoch_reset {
            // The client's position counted another incarnation's log: this one's retained
            // messages are all new to it.
            st.base
        } else if from > head {
            return Err(format!("position {from} is beyond the head {head}"));
        } else {
            from.max(st.base)
        };
        let skipped = if epoch == 0 {
            0
        } else if epoch_reset {
            // What this incarnation already dropped is gone for the client too.
            st.base
        } else {
            start - from
        };
        let backlog = st.backlog(start);
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Room {
            queued: fanout.queued.share(),
            capacity: fanout.queue_capacity,
            freed: Notify::new(),
            kicked: CancellationToken::new(),
        });
        st.subs.push(Queue {
            tx,
            room: room.clone(),
        });
        Ok(Subscription {
            start,
            backlog,
            queue: Queued { rx, room },
            skipped,
            epoch_reset,
        })
    }

    /// Forgets closed subscriber queues now if nobody holds the topic; otherwise the next
    /// append does it.
    pub fn prune(&self) {
        if let Ok(mut st) = self.0.try_lock() {
            st.subs.retain(|q| !q.tx.is_closed());
        }
    }
}

/// Topics by name, created on first use by either role.
#[derive(Default)]
pub struct Topics(Mutex<HashMap<String, Arc<Topic>>>);

impl Topics {
    /// The topic called `name`, or `None` when creating it would pass [`MAX_TOPICS`].
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = map.get(name) {
            return Some(t.clone());
        }
        if map.len() >= MAX_TOPICS {
            return None;
        }
        Some(map.entry(name.to_owned()).or_default().clone())
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
