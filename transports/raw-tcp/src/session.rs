//! Publisher sessions on the server: how many of each session's messages were relayed, so a
//! publisher that reconnects resends only what never arrived; and which connection serves it,
//! so a connection that broke without the server noticing stops when its successor arrives.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Sessions remembered at most (a bound against clients inventing ids).
pub const MAX_SESSIONS: usize = 65_536;
/// How long a session without a connection is kept for certain once the table is full: longer
/// than any reconnect backoff, so an honest publisher between attempts is never forgotten.
const IDLE_GRACE: Duration = Duration::from_secs(300);

struct Session {
    relayed: Arc<tokio::sync::Mutex<u64>>,
    current: Mutex<CancellationToken>,
    /// When its last connection ended (or when it was created); `None` while a connection
    /// serves it.
    idle_since: Mutex<Option<Instant>>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            relayed: Arc::default(),
            current: Mutex::default(),
            idle_since: Mutex::new(Some(Instant::now())),
        }
    }
}

impl Session {
    fn idle_longer_than(&self, grace: Duration) -> bool {
        let idle = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.is_some_and(|t| t.elapsed() > grace)
    }
}

/// Publisher sessions by id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<u64, Arc<Session>>>);

/// A connection's claim on a session.
pub struct Claim {
    /// Cancelled when a newer connection of the same session arrives.
    pub superseded: CancellationToken,
    /// Whether the server knew the session already (a reconnect) or just created it.
    pub known: bool,
    session: Arc<Session>,
}

impl Claim {
    /// Waits until the previous connection of the session has stopped relaying, then holds
    /// the session's relay count exclusively for this connection.
    pub async fn count(self) -> SessionCount {
        let count = self.session.relayed.clone().lock_owned().await;
        *self
            .session
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        SessionCount {
            count,
            session: self.session,
        }
    }
}

/// The relay count of a session, held by the connection serving it.
pub struct SessionCount {
    count: OwnedMutexGuard<u64>,
    session: Arc<Session>,
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

impl Drop for SessionCount {
    fn drop(&mut self) {
        *self
            .session
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }
}

impl Sessions {
    /// Claims session `id` for a new connection, telling the previous one to stop after its
    /// current message. `None` when the table is full of sessions that may still come back.
    pub fn claim(&self, id: u64) -> Option<Claim> {
        self.claim_with_grace(id, IDLE_GRACE)
    }

    fn claim_with_grace(&self, id: u64, grace: Duration) -> Option<Claim> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let known = map.contains_key(&id);
        if !known && map.len() >= MAX_SESSIONS {
            map.retain(|_, s| !s.idle_longer_than(grace));
            if map.len() >= MAX_SESSIONS {
                return None;
            }
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
        Some(Claim {
            superseded,
            known,
            session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_claim_supersedes_the_old_connection() {
        let sessions = Sessions::default();
        let first = sessions.claim(1).unwrap();
        assert!(!first.known);
        let token = first.superseded.clone();
        let mut count = first.count().await;
        *count += 3;
        let second = sessions.claim(1).unwrap();
        assert!(second.known && token.is_cancelled());
        drop(count);
        assert_eq!(*second.count().await, 3);
    }

    #[tokio::test]
    async fn a_full_table_forgets_only_long_idle_sessions() {
        let sessions = Sessions::default();
        for id in 0..MAX_SESSIONS as u64 {
            drop(sessions.claim(id).unwrap().count().await);
        }
        // Every session just went idle: none may be forgotten yet.
        assert!(sessions.claim(u64::MAX).is_none());
        assert!(
            sessions.claim(7).is_some(),
            "known sessions still reconnect"
        );
        // Past the grace they may go.
        assert!(
            sessions
                .claim_with_grace(u64::MAX, Duration::ZERO)
                .is_some()
        );
    }
}
