//! Per-topic message buffers with cursors, and the held poll itself.
//!
//! A cursor is the index of the next message a client wants: message `i` of a topic has cursor
//! `i`, and a reply carrying messages `i..j` hands back `j` as the next cursor. Each topic keeps
//! the last `retention` messages; a cursor older than that is *gone* (410), one beyond the head
//! is a client bug (400).
//!
//! A parked poll waits on the topic's `watch` channel, which every publish bumps, so it wakes
//! exactly when there is something to read: the server has no polling loop and no timer per
//! message, only one sleep per parked request for its hold deadline.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use transport_core::occupancy::RetainedGauges;

use crate::codec;
use crate::config::Encoding;

/// Most topics one server creates; publishes and polls for more get 503 (a GET creating topics
/// must not grow memory without bound).
pub const MAX_TOPICS: usize = 10_000;

/// The retained messages of one topic.
#[derive(Debug)]
struct Log {
    /// Cursor of `msgs[0]`.
    first: u64,
    msgs: VecDeque<Bytes>,
}

impl Log {
    fn next(&self) -> u64 {
        self.first + self.msgs.len() as u64
    }
}

/// One topic: its bounded buffer and the channel that wakes parked polls.
#[derive(Debug)]
pub struct Topic {
    log: Mutex<Log>,
    head: watch::Sender<u64>,
    retention: usize,
    /// The server's gauges of what every topic retains.
    retained: RetainedGauges,
}

/// How much one poll reply may carry.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Most messages.
    pub max_messages: usize,
    /// Most encoded body bytes (one message is always allowed, however large).
    pub max_bytes: usize,
    /// The encoding the reply will use, to size messages.
    pub encoding: Encoding,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// Messages from the cursor on, and the cursor after them.
    Messages {
        /// The messages, oldest first.
        msgs: Vec<Bytes>,
        /// Cursor after the last one.
        next: u64,
    },
    /// Nothing after the cursor (yet, or within the hold).
    Empty {
        /// The cursor, unchanged.
        next: u64,
    },
    /// The cursor is older than retention.
    Gone {
        /// The oldest cursor still retained.
        earliest: u64,
    },
    /// The cursor is beyond anything published.
    Ahead {
        /// The topic's next cursor.
        head: u64,
        /// The oldest cursor still retained: where a client whose server restarted resumes.
        earliest: u64,
    },
    /// The server is shutting down; the poll was released.
    ShuttingDown,
}

impl Topic {
    #[cfg(test)]
    fn new(retention: usize) -> Topic {
        Topic::reporting(retention, RetainedGauges::detached())
    }

    fn reporting(retention: usize, retained: RetainedGauges) -> Topic {
        Topic {
            retained,
            log: Mutex::new(Log {
                first: 0,
                msgs: VecDeque::new(),
            }),
            head: watch::channel(0).0,
            retention,
        }
    }

    /// Appends `msgs`, drops what falls out of retention, wakes parked polls, and returns the
    /// next cursor.
    pub fn publish(&self, msgs: impl IntoIterator<Item = Bytes>) -> u64 {
        let next = {
            let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
            let before = log.msgs.len();
            log.msgs.extend(msgs);
            let added = log.msgs.range(before..).map(|m| m.len() as u64).sum();
            self.retained.add((log.msgs.len() - before) as u64, added);
            let excess = log.msgs.len().saturating_sub(self.retention);
            if excess > 0 {
                let dropped = log.msgs.drain(..excess).map(|m| m.len() as u64).sum();
                self.retained.remove(excess as u64, dropped);
                log.first += excess as u64;
            }
            log.next()
        };
        self.head.send_replace(next);
        next
    }

    /// The cursor the next published message will get.
    pub fn head(&self) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next()
    }

    /// The oldest cursor still retained: where a subscriber of a restarted server resumes.
    pub fn earliest(&self) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .first
    }

    /// Reads from `cursor` without waiting.
    pub fn read(&self, cursor: u64, limits: ReadLimits) -> PollOutcome {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let next = log.next();
        if cursor < log.first {
            return PollOutcome::Gone {
                earliest: log.first,
            };
        }
        if cursor > next {
            return PollOutcome::Ahead {
                head: next,
                earliest: log.first,
            };
        }
        if cursor == next {
            return PollOutcome::Empty { next };
        }
        let start = (cursor - log.first) as usize;
        let mut msgs = Vec::new();
        let mut bytes = 0usize;
        for m in log.msgs.range(start..).take(limits.max_messages) {
            bytes += codec::encoded_len(limits.encoding, m.len());
            if bytes > limits.max_bytes && !msgs.is_empty() {
                break;
            }
            msgs.push(m.clone());
        }
        let next = cursor + msgs.len() as u64;
        PollOutcome::Messages { msgs, next }
    }

    /// The held poll: returns as soon as there are messages after `cursor`, or empty once `hold`
    /// has passed, or `ShuttingDown` as soon as `shutdown` is cancelled.
    pub async fn poll(
        &self,
        cursor: u64,
        limits: ReadLimits,
        hold: Duration,
        shutdown: &CancellationToken,
    ) -> PollOutcome {
        // Subscribing before reading means a publish between the read and the wait still wakes
        // us: `changed` fires for any value sent after `subscribe`.
        let mut rx = self.head.subscribe();
        let deadline = Instant::now() + hold;
        loop {
            let found = self.read(cursor, limits);
            if !matches!(found, PollOutcome::Empty { .. }) || hold.is_zero() {
                return found;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return PollOutcome::ShuttingDown,
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The topic is gone (server dropped): nothing more will come.
                        return found;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return found,
            }
        }
    }
}

/// Every topic of one server.
#[derive(Debug)]
pub struct Store {
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    retention: usize,
    retained: RetainedGauges,
    /// Whether a graceful stop is draining, and when data last went out.
    pub drain: transport_core::Drain,
}

impl Store {
    /// An empty store keeping `retention` messages per topic, reporting to no registry.
    pub fn new(retention: usize) -> Store {
        Store::reporting(retention, RetainedGauges::detached())
    }

    /// An empty store keeping `retention` messages per topic, every topic's log counted in
    /// `retained` (`server_retained_messages`, `server_retained_bytes`).
    pub fn reporting(retention: usize, retained: RetainedGauges) -> Store {
        Store {
            topics: Mutex::new(HashMap::new()),
            retention: retention.max(1),
            retained,
            drain: transport_core::Drain::default(),
        }
    }

    /// The topic called `name`, created on first use; `None` once [`MAX_TOPICS`] exist.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = topics.get(name) {
            return Some(t.clone());
        }
        if topics.len() >= MAX_TOPICS {
            return None;
        }
        let t = Arc::new(Topic::reporting(self.retention, self.retained.clone()));
        topics.insert(name.to_owned(), t.clone());
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReadLimits = ReadLimits {
        max_messages: 100,
        max_bytes: 1 << 20,
        encoding: Encoding::Binary,
    };

    fn m(i: u8) -> Bytes {
        Bytes::from(vec![i; 10])
    }

    #[test]
    fn cursor_semantics() {
        let t = Topic::new(100);
        assert_eq!(t.read(0, LIMITS), PollOutcome::Empty { next: 0 });
        assert_eq!(t.publish([m(0), m(1), m(2)]), 3);
        assert_eq!(
            t.read(0, LIMITS),
            PollOutcome::Messages {
                msgs: vec![m(0), m(1), m(2)],
                next: 3
            }
        );
        assert_eq!(
            t.read(2, LIMITS),
            PollOutcome::Messages {
                msgs: vec![m(2)],
                next: 3
            }
        );
        assert_eq!(t.read(3, LIMITS), PollOutcome::Empty { next: 3 });
        assert_eq!(
            t.read(4, LIMITS),
            PollOutcome::Ahead {
                head: 3,
                earliest: 0
            }
        );
        let two = ReadLimits {
            max_messages: 2,
            ..LIMITS
        };
        assert_eq!(
            t.read(0, two),
            PollOutcome::Messages {
                msgs: vec![m(0), m(1)],
                next: 2
            }
        );
        // 14 bytes per binary frame: a 20-byte cap fits one, and one always fits.
        for max_bytes in [20, 1] {
            let small = ReadLimits {
                max_bytes,
                ..LIMITS
            };
            assert_eq!(
                t.read(1, small),
                PollOutcome::Messages {
                    msgs: vec![m(1)],
                    next: 2
                }
            );
        }
    }

    #[test]
    fn retention_makes_old_cursors_gone() {
        let t = Topic::new(3);
        t.publish((0..5).map(m));
        assert_eq!(t.read(1, LIMITS), PollOutcome::Gone { earliest: 2 });
        assert_eq!(
            t.read(2, LIMITS),
            PollOutcome::Messages {
                msgs: vec![m(2), m(3), m(4)],
                next: 5
            }
        );
        assert_eq!(t.head(), 5);
        assert_eq!(t.earliest(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn empty_poll_returns_after_the_hold() {
        let t = Topic::new(10);
        let start = Instant::now();
        let got = t
            .poll(
                0,
                LIMITS,
                Duration::from_secs(30),
                &CancellationToken::new(),
            )
            .await;
        assert_eq!(got, PollOutcome::Empty { next: 0 });
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn publish_wakes_a_parked_poll() {
        let t = Arc::new(Topic::new(10));
        let start = Instant::now();
        let parked = tokio::spawn({
            let t = t.clone();
            async move {
                t.poll(
                    0,
                    LIMITS,
                    Duration::from_secs(30),
                    &CancellationToken::new(),
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        t.publish([m(7)]);
        let got = parked.await.unwrap();
        assert_eq!(
            got,
            PollOutcome::Messages {
                msgs: vec![m(7)],
                next: 1
            }
        );
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_releases_a_parked_poll() {
        let t = Topic::new(10);
        let token = CancellationToken::new();
        let cancel = token.clone();
        let start = Instant::now();
        let (got, ()) = tokio::join!(
            t.poll(0, LIMITS, Duration::from_secs(30), &token),
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                cancel.cancel();
            }
        );
        assert_eq!(got, PollOutcome::ShuttingDown);
        assert_eq!(start.elapsed(), Duration::from_millis(10));
    }

    #[test]
    fn topic_count_is_bounded() {
        let s = Store::new(1);
        for i in 0..MAX_TOPICS {
            assert!(s.topic(&i.to_string()).is_some());
        }
        assert!(s.topic("one-more").is_none());
        assert!(s.topic("0").is_some(), "existing topics stay reachable");
    }
}
