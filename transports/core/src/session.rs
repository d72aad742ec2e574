//! Publisher sessions on a server: how many of each session's messages the server has accepted,
//! so a publisher that reconnects resends exactly what never arrived; and which connection
//! serves each session, so a predecessor that broke without the server noticing stops (after its
//! current message) before its successor reads the count. Every transport with resumable
//! publishers keeps one such table; the key is whatever names a session there (an id, or a topic
//! and an id).
//!
//! The count sits behind an async mutex that the serving connection holds for its whole life.
//! A successor first supersedes the predecessor (cancels its token) and only then waits for the
//! mutex, which the predecessor releases when its loop ends: that order is what makes the count
//! exact, since nothing can be added after the successor reads it. The wait may be bounded
//! ([`Claim::count_within`]) so a predecessor stuck on a slow subscriber cannot hold a
//! successor forever.
//!
//! The table is bounded against clients inventing ids: at most [`MAX_SESSIONS`] sessions, and a
//! full table forgets only sessions nobody has used for [`IDLE_GRACE`]; otherwise a new session
//! is refused (a known one always reconnects).

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Sessions a server remembers at most.
pub const MAX_SESSIONS: usize = 65_536;
/// How long a session nobody uses is kept for certain once the table is full: longer than any
/// reconnect backoff, so an honest publisher between attempts is never forgotten.
pub const IDLE_GRACE: Duration = Duration::from_secs(300);

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
    /// Messages of this session the server accepted, over all its connections.
    accepted: Arc<tokio::sync::Mutex<u64>>,
    usage: Mutex<Usage>,
}

impl Session {
    fn new() -> Self {
        Session {
            accepted: Arc::default(),
            usage: Mutex::new(Usage {
                current: CancellationToken::new(),
                users: 0,
                idle_since: Instant::now(),
            }),
        }
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forgettable(&self, grace: Duration) -> bool {
        let u = self.usage();
        u.users == 0 && u.idle_since.elapsed() >= grace
    }
}

/// Keeps a session marked as in use while it lives; when the last user goes, the session's idle
/// time starts.
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
pub struct Claim {
    /// Cancelled when a newer connection of the same session arrives.
    pub superseded: CancellationToken,
    /// Whether the server knew the session already (a reconnect) or just created it.
    pub known: bool,
    user: User,
}

impl Claim {
    /// Waits until the previous connection of the session has stopped accepting, then holds
    /// the session's count exclusively for this connection.
    pub async fn count(self) -> SessionCount {
        let count = self.user.0.accepted.clone().lock_owned().await;
        SessionCount {
            count,
            _user: self.user,
        }
    }

    /// Like [`Claim::count`], but waits at most `bound` for the previous connection. `None` if
    /// it is still busy then.
    pub async fn count_within(self, bound: Duration) -> Option<SessionCount> {
        tokio::time::timeout(bound, self.count()).await.ok()
    }
}

/// A session's count of accepted messages, held by the one connection serving it; the session
/// counts as idle from when its last holder or claimant drops.
pub struct SessionCount {
    count: OwnedMutexGuard<u64>,
    _user: User,
}

impl Deref for SessionCount {
    type Target = u64;
    fn deref(&self) -> &u64 {
        &self.count
    }
}

impl DerefMut for SessionCount {
    fn deref_mut(&mut self) -> &mut u64 {
        &mut self.count
    }
}

/// The publisher sessions of one server, by key `K`.
pub struct Sessions<K>(Mutex<HashMap<K, Arc<Session>>>);

impl<K> Default for Sessions<K> {
    fn default() -> Self {
        Sessions(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq> Sessions<K> {
    /// Claims session `key` for a new connection and tells the previous connection of the
    /// session to stop after its current message. `None` when the table is full of sessions
    /// that may still come back.
    pub fn claim(&self, key: K) -> Option<Claim> {
        self.claim_with_grace(key, IDLE_GRACE)
    }

    fn claim_with_grace(&self, key: K, grace: Duration) -> Option<Claim> {
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
            .or_insert_with(|| Arc::new(Session::new()))
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

    /// A composite key, as a server with sessions per topic uses.
    fn key(topic: &str, id: u64) -> (String, u64) {
        (topic.to_owned(), id)
    }

    #[tokio::test]
    async fn a_successor_supersedes_and_reads_the_final_count() {
        let sessions = Sessions::default();
        let first = sessions.claim(key("t", 1)).unwrap();
        assert!(!first.known);
        let token = first.superseded.clone();
        let mut held = first.count().await;
        *held += 3;
        let second = sessions.claim(key("t", 1)).unwrap();
        assert!(second.known && token.is_cancelled());
        assert!(!second.superseded.is_cancelled());
        // The predecessor accepts one more message before it sees the cancellation.
        *held += 1;
        drop(held);
        assert_eq!(*second.count_within(BOUND).await.unwrap(), 4);
        // The same id on another topic is another session.
        assert!(!sessions.claim(key("u", 1)).unwrap().known);
    }

    #[tokio::test]
    async fn the_unbounded_wait_ends_when_the_predecessor_does() {
        let sessions = Sessions::default();
        let mut held = sessions.claim(1_u64).unwrap().count().await;
        let successor = sessions.claim(1).unwrap();
        let waiting = tokio::spawn(async move { *successor.count().await });
        *held += 2;
        drop(held);
        let count = tokio::time::timeout(BOUND, waiting).await.unwrap().unwrap();
        assert_eq!(count, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_a_busy_predecessor_is_bounded() {
        let sessions = Sessions::default();
        let _busy = sessions
            .claim(key("t", 1))
            .unwrap()
            .count_within(BOUND)
            .await
            .unwrap();
        let successor = sessions.claim(key("t", 1)).unwrap();
        assert!(
            successor
                .count_within(Duration::from_secs(25))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_full_table_refuses_new_sessions_and_forgets_only_long_idle_ones() {
        let sessions = Sessions::default();
        let live = sessions.claim(key("t", 0)).unwrap().count().await;
        // A claim still waiting for its count is in use too.
        let waiting = sessions.claim(key("t", 1)).unwrap();
        for id in 2..MAX_SESSIONS as u64 {
            let claim = sessions.claim(key("t", id)).unwrap();
            // Half end after holding the count, half before: both leave the session idle.
            if id % 2 == 0 {
                drop(claim.count().await);
            }
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // Every session was just used: none may be forgotten yet.
        assert!(sessions.claim(key("t", u64::MAX)).is_none());
        assert!(sessions.claim(key("other", 1)).is_none());
        assert!(
            sessions.claim(key("t", 7)).is_some(),
            "known sessions reconnect"
        );
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // Past the grace the idle ones go, but never one a connection serves or waits for.
        let newcomer = sessions.claim_with_grace(key("t", u64::MAX), Duration::ZERO);
        assert!(newcomer.is_some_and(|c| !c.known));
        assert_eq!(sessions.len(), 3);
        drop((live, waiting));
        assert!(sessions.claim(key("t", 0)).unwrap().known);
        assert!(sessions.claim(key("t", 1)).unwrap().known);
    }
}
