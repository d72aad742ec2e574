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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::proto::{FRAME_HEADER_LEN, frame_len};

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

    /// Frees the room of `count` messages the subscriber has written.
    pub fn written(&self, count: usize) {
        self.room.give_back(count);
    }
}

/// A queue's capacity, counted in messages: publishers take room for a whole run under the
/// topic lock, the subscriber gives it back once the run is written. Only publishers take, and
/// only under the lock, so room seen there is still there when taken: nobody holds part of
/// it while waiting for the rest.
struct Room {
    queued: AtomicUsize,
    capacity: usize,
    freed: Notify,
}

impl Room {
    fn fits(&self, n: usize) -> bool {
        self.queued.load(Ordering::Acquire) + n <= self.capacity
    }

    fn take(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::AcqRel);
    }

    fn give_back(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
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
    fn evict(&mut self, retain_bytes: usize) {
        while self.ring_bytes > retain_bytes && self.ring_count > 1 {
            let Some(front) = self.ring.front_mut() else {
                return;
            };
            let most = front.count.min((self.ring_count - 1) as usize);
            let excess = self.ring_bytes - retain_bytes;
            if most == front.count && front.cost() <= excess {
                // The whole run goes: no need to walk its frames.
                let gone = front.count;
                self.ring_bytes -= front.cost();
                self.ring_count -= gone as u64;
                self.base += gone as u64;
                self.ring.pop_front();
                continue;
            }
            let (n, cost, at) = front.prefix_costing(excess, most);
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
    /// Appends `frames` and hands them to every live subscriber under one lock, waiting until
    /// every queue has room for all of them (backpressure, never a drop). They must not
    /// outnumber a queue's capacity. Returns false if `stop` completed while waiting.
    pub async fn append<F: Future<Output = ()>>(
        &self,
        frames: &Frames,
        retain_bytes: usize,
        stop: &mut std::pin::Pin<&mut F>,
    ) -> bool {
        let n = frames.count;
        loop {
            let mut st = self.0.lock().await;
            // Nobody waits while holding the lock, so a subscriber that stopped reading
            // cannot keep others from subscribing.
            let full = st
                .subs
                .iter()
                .find(|q| !q.room.fits(n) && !q.tx.is_closed())
                .map(|q| (q.room.clone(), q.tx.clone()));
            if let Some((room, tx)) = full {
                drop(st);
                tokio::select! {
                    _ = stop.as_mut() => return false,
                    _ = room.wait_for(n) => {}
                    // A subscriber that left will never make room.
                    _ = tx.closed() => {}
                }
                continue;
            }
            st.ring_bytes += frames.cost();
            st.ring_count += n as u64;
            st.ring.push_back(frames.clone());
            st.evict(retain_bytes);
            let mut gone = false;
            for q in &st.subs {
                q.room.take(n);
                gone |= q.tx.send(frames.clone()).is_err();
            }
            if gone {
                st.subs.retain(|q| !q.tx.is_closed());
            }
            return true;
        }
    }

    /// Registers a subscriber that wants messages from `from` in incarnation `epoch` (0: a new
    /// subscription at the live edge). `server_epoch` is this incarnation's.
    pub async fn subscribe(
        &self,
        server_epoch: u64,
        epoch: u64,
        from: u64,
        capacity: usize,
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
            queued: AtomicUsize::new(0),
            capacity,
            freed: Notify::new(),
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
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    fn msg(i: u8) -> Bytes {
        Bytes::from(vec![i; 8])
    }

    fn one(i: u8) -> Frames {
        Frames::encode(&[&msg(i)])
    }

    fn bodies(runs: &[Frames]) -> Vec<Bytes> {
        runs.iter().flat_map(Frames::bodies).collect()
    }

    /// The next queued messages (bounded wait).
    async fn next(q: &mut Queued) -> Vec<Bytes> {
        let mut runs = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), q.recv_many(&mut runs, 8))
            .await
            .expect("something queued");
        assert!(n > 0, "queue dropped");
        bodies(&runs)
    }

    /// Appends message `i` from another task, which may wait for room.
    fn append_in_background(topic: &Arc<Topic>, i: u8) -> tokio::task::JoinHandle<bool> {
        let topic = topic.clone();
        tokio::spawn(async move {
            let never = CancellationToken::new();
            let cancelled = never.cancelled();
            tokio::pin!(cancelled);
            topic.append(&one(i), 1 << 20, &mut cancelled).await
        })
    }

    #[tokio::test]
    async fn resumes_from_the_log_then_the_live_queue() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        for i in 0..5 {
            assert!(topic.append(&one(i), 1 << 20, &mut cancelled).await);
        }
        let fresh = topic.subscribe(9, 0, 0, 8).await.unwrap();
        assert_eq!((fresh.start, fresh.backlog.len()), (5, 0));
        let mut resumed = topic.subscribe(9, 9, 2, 8).await.unwrap();
        assert_eq!(resumed.start, 2);
        assert_eq!(bodies(&resumed.backlog), vec![msg(2), msg(3), msg(4)]);
        assert!(topic.append(&one(5), 1 << 20, &mut cancelled).await);
        assert_eq!(next(&mut resumed.queue).await, vec![msg(5)]);
        let restarted = topic.subscribe(9, 4, 100, 8).await.unwrap();
        assert!(restarted.epoch_reset);
        assert_eq!((restarted.start, bodies(&restarted.backlog).len()), (0, 6));
        assert!(topic.subscribe(9, 9, 7, 8).await.is_err());
    }

    #[tokio::test]
    async fn a_resume_inside_a_run_of_messages_starts_at_the_exact_one() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        let run = Frames::encode(&[&msg(0), b"longer body", &msg(2)]);
        assert!(topic.append(&run, 1 << 20, &mut cancelled).await);
        assert!(topic.append(&one(3), 1 << 20, &mut cancelled).await);
        let s = topic.subscribe(9, 9, 1, 8).await.unwrap();
        assert_eq!(s.start, 1);
        let want = [Bytes::from_static(b"longer body"), msg(2), msg(3)];
        assert_eq!(bodies(&s.backlog), want);
        // The backlog is still the wire format: frames a subscriber can be sent as they are.
        assert_eq!(s.backlog[0], Frames::encode(&[b"longer body", &msg(2)]));
    }

    #[tokio::test]
    async fn retention_is_bounded_and_skips_are_counted() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        let per = 8 + ENTRY_OVERHEAD;
        for i in 0..10 {
            assert!(topic.append(&one(i), 3 * per, &mut cancelled).await);
        }
        let s = topic.subscribe(1, 1, 4, 8).await.unwrap();
        assert_eq!((s.start, s.skipped), (7, 3));
        assert_eq!(bodies(&s.backlog), vec![msg(7), msg(8), msg(9)]);
    }

    #[tokio::test]
    async fn retention_cuts_a_run_message_by_message() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        let per = 8 + ENTRY_OVERHEAD;
        let run: Vec<Bytes> = (0..5).map(msg).collect();
        let refs: Vec<&[u8]> = run.iter().map(|b| &b[..]).collect();
        assert!(
            topic
                .append(&Frames::encode(&refs), 3 * per, &mut cancelled)
                .await
        );
        let s = topic.subscribe(1, 1, 0, 8).await.unwrap();
        assert_eq!((s.start, s.skipped), (2, 2));
        assert_eq!(bodies(&s.backlog), vec![msg(2), msg(3), msg(4)]);
        // Even a budget below one message keeps the newest.
        assert!(
            topic
                .append(&Frames::encode(&refs), 1, &mut cancelled)
                .await
        );
        let s = topic.subscribe(1, 1, 0, 8).await.unwrap();
        assert_eq!((s.start, bodies(&s.backlog)), (9, vec![msg(4)]));
    }

    #[tokio::test]
    async fn an_epoch_reset_counts_what_the_new_incarnation_already_dropped() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        for i in 0..10 {
            assert!(
                topic
                    .append(&one(i), 3 * (8 + ENTRY_OVERHEAD), &mut cancelled)
                    .await
            );
        }
        let s = topic.subscribe(1, 2, 4, 8).await.unwrap();
        assert!(s.epoch_reset);
        assert_eq!((s.start, s.skipped, bodies(&s.backlog).len()), (7, 7, 3));
    }

    #[tokio::test]
    async fn a_full_queue_does_not_keep_others_from_subscribing() {
        let topic = Arc::new(Topic::default());
        let mut stuck = topic.subscribe(1, 0, 0, 1).await.unwrap();
        let never = CancellationToken::new();
        {
            let cancelled = never.cancelled();
            tokio::pin!(cancelled);
            assert!(topic.append(&one(0), 1 << 20, &mut cancelled).await);
        }
        // The second message waits for the stuck queue...
        let waiting = append_in_background(&topic, 1);
        // ...without holding the topic: a new subscriber gets in meanwhile.
        let bound = Duration::from_secs(5);
        let mut other = tokio::time::timeout(bound, topic.subscribe(1, 0, 0, 8))
            .await
            .expect("subscribe is not blocked by a full queue")
            .unwrap();
        assert_eq!(next(&mut stuck.queue).await, vec![msg(0)]);
        // Room comes back when the subscriber has written what it took, not before.
        stuck.queue.written(1);
        assert!(tokio::time::timeout(bound, waiting).await.unwrap().unwrap());
        assert_eq!(next(&mut stuck.queue).await, vec![msg(1)]);
        // Subscribed before message 1 was appended: it gets it live.
        assert_eq!(other.start + other.backlog.len() as u64, 1);
        assert_eq!(next(&mut other.queue).await, vec![msg(1)]);
    }

    #[tokio::test]
    async fn a_subscriber_that_leaves_releases_a_waiting_publisher() {
        let topic = Arc::new(Topic::default());
        let stuck = topic.subscribe(1, 0, 0, 1).await.unwrap();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        assert!(topic.append(&one(0), 1 << 20, &mut cancelled).await);
        let waiting = append_in_background(&topic, 1);
        drop(stuck);
        let done = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(done.expect("not blocked by a queue nobody reads").unwrap());
    }
}
