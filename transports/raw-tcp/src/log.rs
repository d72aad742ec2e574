//! The server's per-topic state: a bounded log of recent messages, so a subscriber whose
//! connection broke resumes exactly where it was, and the live subscribers' queues; plus the
//! per-session relay counts that let a reconnecting publisher resend only what never arrived.
//!
//! One async lock per topic orders everything: a message is appended to the log and handed to
//! every live queue under it, and a subscription reads its backlog and joins the queues under
//! it. So positions are implicit (both ends count frames) and no message is missed or repeated
//! at the seam between backlog and live queue, which is what lets the wire stay bare frames.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio_util::sync::CancellationToken;

/// Per-message bookkeeping added to the payload length when sizing the log (the `Bytes`
/// handle and the ring slot), so a flood of tiny messages is bounded too.
const ENTRY_OVERHEAD: usize = 32;
/// Sessions remembered before idle ones are forgotten (a bound against clients inventing ids).
const MAX_SESSIONS: usize = 65_536;

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
    pub async fn append(
        &self,
        msg: Bytes,
        retain_bytes: usize,
        cancelled: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    ) -> bool {
        let mut st = self.0.lock().await;
        st.ring_bytes += msg.len() + ENTRY_OVERHEAD;
        st.ring.push_back(msg.clone());
        while st.ring_bytes > retain_bytes && st.ring.len() > 1 {
            if let Some(old) = st.ring.pop_front() {
                st.ring_bytes -= old.len() + ENTRY_OVERHEAD;
                st.base += 1;
            }
        }
        let mut gone = false;
        for tx in &st.subs {
            let sent = match tx.try_send(msg.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(m)) => tokio::select! {
                    _ = cancelled.as_mut() => return false,
                    r = tx.send(m) => r.is_ok(),
                },
            };
            gone |= !sent;
        }
        if gone {
            st.subs.retain(|tx| !tx.is_closed());
        }
        true
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
        let skipped = if epoch == 0 || epoch_reset {
            0
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
    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Arc<Topic> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().clone()
    }
}

/// A publisher session: how many of its messages were relayed, and the connection serving it.
#[derive(Default)]
struct Session {
    relayed: Arc<tokio::sync::Mutex<u64>>,
    current: Mutex<CancellationToken>,
}

/// Publisher sessions by id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<u64, Arc<Session>>>);

/// A connection's claim on a session.
pub struct Claim {
    /// Cancelled when a newer connection of the same session arrives.
    pub superseded: CancellationToken,
    relayed: Arc<tokio::sync::Mutex<u64>>,
}

impl Claim {
    /// Waits until the previous connection of the session has stopped relaying, then returns
    /// the session's relay count, held exclusively by this connection.
    pub async fn count(self) -> OwnedMutexGuard<u64> {
        self.relayed.lock_owned().await
    }
}

impl Sessions {
    /// Claims session `id` for a new connection, telling the previous one (a connection that
    /// broke without the server noticing yet) to stop after its current message.
    pub fn claim(&self, id: u64) -> Claim {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS && !map.contains_key(&id) {
            map.retain(|_, s| s.relayed.try_lock().is_err());
        }
        let session = map.entry(id).or_default().clone();
        drop(map);
        let superseded = CancellationToken::new();
        let old = std::mem::replace(
            &mut *session
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            superseded.clone(),
        );
        old.cancel();
        Claim {
            superseded,
            relayed: session.relayed.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    async fn a_new_claim_supersedes_the_old_connection() {
        let sessions = Sessions::default();
        let first = sessions.claim(1);
        let token = first.superseded.clone();
        let mut count = first.count().await;
        *count += 3;
        let second = sessions.claim(1);
        assert!(token.is_cancelled());
        drop(count);
        assert_eq!(*second.count().await, 3);
    }
}
