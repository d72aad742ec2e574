//! The server's per-topic state: a bounded log of recent messages, so a subscriber whose
//! connection broke resumes exactly where it was, and the live subscribers' queues.
//!
//! One async lock per topic orders everything: a message is appended to the log and handed to
//! every live queue under it, and a subscription reads its backlog and joins the queues under
//! it. So positions are implicit (both ends count frames) and no message is missed or repeated
//! at the seam between backlog and live queue, which is what lets the wire stay bare frames.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Per-message bookkeeping added to the payload length when sizing the log (the `Bytes`
/// handle and the ring slot), so a flood of tiny messages is bounded too.
const ENTRY_OVERHEAD: usize = 32;
/// Topics a server holds at most: each may retain up to `retain_bytes`, so names sent by
/// clients must not create them without bound.
pub const MAX_TOPICS: usize = 1024;

/// Where a new subscription starts, and what it gets before the live queue.
pub struct Subscription {
    /// Position of the first message the subscriber receives.
    pub start: u64,
    /// Retained messages from `start` up to the live edge, in order.
    pub backlog: Vec<Bytes>,
    /// Everything appended after the backlog.
    pub rx: mpsc::Receiver<Bytes>,
    /// Messages the subscriber asked for that the log no longer held.
    pub skipped: u64,
    /// Whether the subscriber's position belonged to another server incarnation.
    pub epoch_reset: bool,
}

#[derive(Default)]
struct State {
    /// Position of `ring[0]`.
    base: u64,
    ring: VecDeque<Bytes>,
    ring_bytes: usize,
    subs: Vec<mpsc::Sender<Bytes>>,
}

impl State {
    fn head(&self) -> u64 {
        self.base + self.ring.len() as u64
    }
}

/// One topic: its log and its subscribers.
#[derive(Default)]
pub struct Topic(tokio::sync::Mutex<State>);

impl Topic {
    /// Appends `msg` and hands it to every live subscriber, waiting while a queue is full
    /// (backpressure, never a drop). Returns false if `cancelled` fired while waiting.
    #[cfg(test)]
    pub async fn append(
        &self,
        msg: Bytes,
        retain_bytes: usize,
        cancelled: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    ) -> bool {
        self.append_all(std::slice::from_ref(&msg), retain_bytes, cancelled)
            .await
    }

    /// Appends `msgs` in order and hands them to every live subscriber under one lock, waiting
    /// until every queue has room for all of them (backpressure, never a drop). `msgs` must
    /// not outnumber a queue's capacity. Returns false if `cancelled` fired while waiting.
    pub async fn append_all(
        &self,
        msgs: &[Bytes],
        retain_bytes: usize,
        cancelled: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    ) -> bool {
        let n = msgs.len();
        loop {
            let mut st = self.0.lock().await;
            // Only publishers, all under this lock, fill these queues: a queue with room now
            // still has room below. So nobody waits while holding the lock, and a subscriber
            // that stopped reading cannot keep others from subscribing.
            let full = st
                .subs
                .iter()
                .find(|tx| tx.capacity() < n && !tx.is_closed())
                .cloned();
            if let Some(tx) = full {
                drop(st);
                tokio::select! {
                    _ = cancelled.as_mut() => return false,
                    permits = tx.reserve_many(n) => drop(permits),
                }
                continue;
            }
            for msg in msgs {
                st.ring_bytes += msg.len() + ENTRY_OVERHEAD;
                st.ring.push_back(msg.clone());
            }
            while st.ring_bytes > retain_bytes && st.ring.len() > 1 {
                if let Some(old) = st.ring.pop_front() {
                    st.ring_bytes -= old.len() + ENTRY_OVERHEAD;
                    st.base += 1;
                }
            }
            let mut gone = false;
            for tx in &st.subs {
                for msg in msgs {
                    gone |= tx.try_send(msg.clone()).is_err();
                }
            }
            if gone {
                st.subs.retain(|tx| !tx.is_closed());
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
        let backlog = st
            .ring
            .range((start - st.base) as usize..)
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(capacity);
        st.subs.push(tx);
        Ok(Subscription {
            start,
            backlog,
            rx,
            skipped,
            epoch_reset,
        })
    }

    /// Forgets closed subscriber queues now if nobody holds the topic; otherwise the next
    /// append does it.
    pub fn prune(&self) {
        if let Ok(mut st) = self.0.try_lock() {
            st.subs.retain(|tx| !tx.is_closed());
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

    #[tokio::test]
    async fn resumes_from_the_log_then_the_live_queue() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        for i in 0..5 {
            assert!(topic.append(msg(i), 1 << 20, &mut cancelled).await);
        }
        let fresh = topic.subscribe(9, 0, 0, 8).await.unwrap();
        assert_eq!((fresh.start, fresh.backlog.len()), (5, 0));
        let mut resumed = topic.subscribe(9, 9, 2, 8).await.unwrap();
        assert_eq!(resumed.start, 2);
        assert_eq!(resumed.backlog, vec![msg(2), msg(3), msg(4)]);
        assert!(topic.append(msg(5), 1 << 20, &mut cancelled).await);
        assert_eq!(resumed.rx.recv().await, Some(msg(5)));
        let restarted = topic.subscribe(9, 4, 100, 8).await.unwrap();
        assert!(restarted.epoch_reset);
        assert_eq!((restarted.start, restarted.backlog.len()), (0, 6));
        assert!(topic.subscribe(9, 9, 7, 8).await.is_err());
    }

    #[tokio::test]
    async fn retention_is_bounded_and_skips_are_counted() {
        let topic = Topic::default();
        let never = CancellationToken::new();
        let cancelled = never.cancelled();
        tokio::pin!(cancelled);
        let per = 8 + ENTRY_OVERHEAD;
        for i in 0..10 {
            assert!(topic.append(msg(i), 3 * per, &mut cancelled).await);
        }
        let s = topic.subscribe(1, 1, 4, 8).await.unwrap();
        assert_eq!((s.start, s.skipped), (7, 3));
        assert_eq!(s.backlog, vec![msg(7), msg(8), msg(9)]);
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
                    .append(msg(i), 3 * (8 + ENTRY_OVERHEAD), &mut cancelled)
                    .await
            );
        }
        let s = topic.subscribe(1, 2, 4, 8).await.unwrap();
        assert!(s.epoch_reset);
        assert_eq!((s.start, s.skipped, s.backlog.len()), (7, 7, 3));
    }

    #[tokio::test]
    async fn a_full_queue_does_not_keep_others_from_subscribing() {
        let topic = Arc::new(Topic::default());
        let mut stuck = topic.subscribe(1, 0, 0, 1).await.unwrap();
        let never = CancellationToken::new();
        {
            let cancelled = never.cancelled();
            tokio::pin!(cancelled);
            assert!(topic.append(msg(0), 1 << 20, &mut cancelled).await);
        }
        // The second message waits for the stuck queue...
        let waiting = tokio::spawn({
            let topic = topic.clone();
            let never = never.clone();
            async move {
                let cancelled = never.cancelled();
                tokio::pin!(cancelled);
                topic.append(msg(1), 1 << 20, &mut cancelled).await
            }
        });
        // ...without holding the topic: a new subscriber gets in meanwhile.
        let bound = Duration::from_secs(5);
        let mut other = tokio::time::timeout(bound, topic.subscribe(1, 0, 0, 8))
            .await
            .expect("subscribe is not blocked by a full queue")
            .unwrap();
        assert_eq!(stuck.rx.recv().await, Some(msg(0)));
        assert!(tokio::time::timeout(bound, waiting).await.unwrap().unwrap());
        assert_eq!(stuck.rx.recv().await, Some(msg(1)));
        // Subscribed before message 1 was appended: it gets it live.
        assert_eq!(other.start + other.backlog.len() as u64, 1);
        assert_eq!(other.rx.recv().await, Some(msg(1)));
    }
}
