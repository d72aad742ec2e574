//! Publisher sessions: how many of each session's messages the server has put into its topic,
//! so a publisher that reconnects resends exactly what never arrived; and which connection
//! serves each session, so a predecessor that broke without the server noticing stops (after
//! its current message) before its successor reads the count.
//!
//! The count sits behind an async mutex that the serving connection holds for its whole life:
//! a successor supersedes the predecessor (cancels its token) and then waits for the mutex,
//! which the predecessor releases when its loop ends. The wait is bounded by the caller.
//!
//! The table is bounded against clients inventing ids: at most [`MAX_SESSIONS`] sessions, and
//! a full table forgets only sessions nobody has used for [`IDLE_GRACE`]; otherwise a new
//! session is refused (a known one always reconnects).

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Sessions a server remembers at most.
pub(crate) const MAX_SESSIONS: usize = 65_536;
/// How long a session nobody uses is kept for certain: longer than any reconnect backoff, so
/// an honest publisher between attempts is never forgotten.
pub(crate) const IDLE_GRACE: Duration = Duration::from_secs(300);

/// A session is one publisher on one topic.
type Key = (String, u64);

/// Who is using a session, guarded by a std mutex (never held across an await).
struct Usage {
    /// Cancelled when a newer connection of the session arrives.
    current: CancellationToken,
    /// Connections that claimed the session and have not ended yet.
    users: usize,
    /// When `users` last dropped to 0 (or when the session was created).
    idle_since: Instant,
}

struct Session {
    /// Messages of this session put into the topic, over all its connections.
    accepted: Arc<tokio::sync::Mutex<u64>>,
    usage: Mutex<Usage>,
}

impl Session {
    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forgettable(&self, grace: Duration) -> bool {
        let u = self.usage();
        u.users == 0 && u.idle_since.elapsed() >= grace
    }
}

/// Keeps a session marked as in use while it lives.
struct User(Arc<Session>);

impl Drop for User {
    fn drop(&mut self) {
        let mut u = self.0.usage();
        u.users -= 1;
        if u.users == 0 {
            u.idle_since = Instant::now();
        }
    }
}

/// A connection's claim on a session, before it holds the count.
pub(crate) struct Claim {
    /// Cancelled when a newer connection of the same session arrives.
    pub(crate) superseded: CancellationToken,
    /// Whether the server knew the session already (a reconnect) or just created it.
    pub(crate) known: bool,
    user: User,
}

impl Claim {
    /// Waits at most `bound` for the previous connection of the session to stop accepting,
    /// then holds the count for this connection. `None` if the predecessor is still busy.
    pub(crate) async fn acquire(self, bound: Duration) -> Option<Held> {
        let lock = self.user.0.accepted.clone().lock_owned();
        let count = tokio::time::timeout(bound, lock).await.ok()?;
        Some(Held {
            count,
            _user: self.user,
        })
    }
}

/// A session's count, held by the one connection serving it.
pub(crate) struct Held {
    count: OwnedMutexGuard<u64>,
    _user: User,
}

impl Deref for Held {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.count
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut u64 {
        &mut self.count
    }
}

/// The publisher sessions of one server.
#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<Key, Arc<Session>>>);

impl Sessions {
    /// Claims session `id` on `topic` for a new connection and tells the previous connection
    /// of the session to stop after its current message. `None` when the table is full of
    /// sessions that may still come back.
    pub(crate) fn claim(&self, topic: &str, id: u64) -> Option<Claim> {
        self.claim_with_grace(topic, id, IDLE_GRACE)
    }

    fn claim_with_grace(&self, topic: &str, id: u64, grace: Duration) -> Option<Claim> {
        let key = (topic.to_owned(), id);
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let known = map.contains_key(&key);
        if !known && map.len() >= MAX_SESSIONS {
            // Only when full, so the sweep's cost falls on new sessions at the bound.
            map.retain(|_, s| !s.forgettable(grace));
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let session = map
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Session {
                    accepted: Arc::default(),
                    usage: Mutex::new(Usage {
                        current: CancellationToken::new(),
                        users: 0,
                        idle_since: Instant::now(),
                    }),
                })
            })
            .clone();
        // Marked in use under the table lock, so a sweep cannot forget it while it waits.
        let superseded = CancellationToken::new();
        {
            let mut u = session.usage();
            u.users += 1;
            std::mem::replace(&mut u.current, superseded.clone()).cancel();
        }
        drop(map);
        Some(Claim {
            superseded,
            known,
            user: User(session),
        })
    }

    /// Sessions remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_successor_supersedes_and_reads_the_final_count() {
        let sessions = Sessions::default();
        let first = sessions.claim("t", 1).unwrap();
        assert!(!first.known);
        let token = first.superseded.clone();
        let mut held = first.acquire(BOUND).await.unwrap();
        *held += 3;
        let second = sessions.claim("t", 1).unwrap();
        assert!(second.known && token.is_cancelled());
        // The predecessor accepts one more message before it sees the cancellation.
        *held += 1;
        drop(held);
        assert_eq!(*second.acquire(BOUND).await.unwrap(), 4);
        // The same id on another topic is another session.
        assert!(!sessions.claim("u", 1).unwrap().known);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_a_busy_predecessor_is_bounded() {
        let sessions = Sessions::default();
        let _busy = sessions
            .claim("t", 1)
            .unwrap()
            .acquire(BOUND)
            .await
            .unwrap();
        let successor = sessions.claim("t", 1).unwrap();
        assert!(successor.acquire(Duration::from_secs(25)).await.is_none());
    }

    #[tokio::test]
    async fn a_full_table_refuses_new_sessions_and_forgets_only_long_idle_ones() {
        let sessions = Sessions::default();
        let live = sessions
            .claim("t", 0)
            .unwrap()
            .acquire(BOUND)
            .await
            .unwrap();
        for id in 1..MAX_SESSIONS as u64 {
            drop(sessions.claim("t", id).unwrap());
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // Every session was just used: none may be forgotten yet.
        assert!(sessions.claim("t", u64::MAX).is_none());
        assert!(sessions.claim("other", 1).is_none());
        assert!(sessions.claim("t", 7).is_some(), "known sessions reconnect");
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // Past the grace the idle ones go, but never the one a connection serves.
        let newcomer = sessions.claim_with_grace("t", u64::MAX, Duration::ZERO);
        assert!(newcomer.is_some_and(|c| !c.known));
        assert_eq!(sessions.len(), 2);
        drop(live);
        assert!(sessions.claim("t", 0).unwrap().known);
    }
}
