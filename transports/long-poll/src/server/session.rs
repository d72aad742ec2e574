//! Publisher sessions over HTTP: which session a connection publishes for, so a POST retried
//! after its reply was lost is stored once.
//!
//! A publisher names its session only on the first POST of each connection
//! (`?session=S&seq=N`, `N` being the session position of the batch's first message); the
//! connection then holds the session's accepted count ([`transport_core::session`]) and every
//! later POST on it continues at that count, so keep-alive requests carry no extra bytes. Of a
//! named batch the server stores only the messages past the count and answers 200 as if it
//! stored them all, with the count in [`ACCEPTED_HEADER`].
//!
//! A newer connection of the same session supersedes this one: the connection task releases
//! the count after the request in flight (`ConnSession::release_when_superseded`), so the
//! successor reads an exact count; later unnamed POSTs on the superseded connection get 409.
//! Publishers that never name a session (curl, older clients) are served as before.

use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;
use transport_core::session::{SessionCount, Sessions};

/// Response header with the session's accepted count, on replies to POSTs that named a session.
pub const ACCEPTED_HEADER: &str = "session-accepted";

/// How long a POST naming a session waits for the session's previous connection to let go of
/// the count. That connection stores synchronously, so this is only reached if it is stuck.
pub(crate) const CLAIM_WAIT: Duration = Duration::from_secs(5);

/// The server's sessions, by topic and session id.
pub(crate) type SessionTable = Sessions<(String, u64)>;

/// Why a POST was not stored.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The table is full of sessions that may still come back (503).
    Full,
    /// The session's previous connection did not let go within [`CLAIM_WAIT`] (503).
    Busy,
    /// This connection's session was taken over by a newer connection (409).
    Superseded,
}

/// The session a connection is bound to.
struct Bound {
    topic: String,
    id: u64,
    superseded: CancellationToken,
    /// `None` once released to a successor.
    count: Option<SessionCount>,
}

/// Per-connection session state, shared by the connection task and its requests.
pub(crate) struct ConnSession {
    /// Locked for the whole of a publish, so a release waits for the request in flight.
    bound: Mutex<Option<Bound>>,
    /// The token of the live binding, watched by the connection task.
    watched: watch::Sender<Option<CancellationToken>>,
}

impl Default for ConnSession {
    fn default() -> Self {
        ConnSession {
            bound: Mutex::new(None),
            watched: watch::Sender::new(None),
        }
    }
}

impl ConnSession {
    /// Ends after this connection's session was superseded and its count released to the
    /// successor. Polled by the connection task next to the connection itself, so the request
    /// in flight (which holds the lock) keeps running.
    pub(crate) async fn release_when_superseded(&self) {
        let mut rx = self.watched.subscribe();
        loop {
            let token = rx.borrow_and_update().clone();
            match token {
                Some(t) => {
                    t.cancelled().await;
                    break;
                }
                // The sender lives in `self`, so `changed` fails only when it is gone.
                None => {
                    if rx.changed().await.is_err() {
                        return std::future::pending().await;
                    }
                }
            }
        }
        let mut bound = self.bound.lock().await;
        if let Some(b) = bound.as_mut()
            && b.superseded.is_cancelled()
        {
            b.count = None;
            self.watched.send_replace(None);
        }
    }

    /// Admits a batch of `n` messages: `named` is `(session, seq)` if the request named one.
    /// `store(skip)` stores the batch minus its first `skip` messages (already accepted) and
    /// returns the topic's next cursor. Returns that cursor and, for a named request, the
    /// session's accepted count afterwards.
    pub(crate) async fn admit(
        &self,
        sessions: &SessionTable,
        topic: &str,
        named: Option<(u64, u64)>,
        n: usize,
        store: impl FnOnce(usize) -> u64,
    ) -> Result<(u64, Option<u64>), Refusal> {
        let mut bound = self.bound.lock().await;
        let seq = match named {
            Some((id, seq)) => {
                let live = bound.as_ref().is_some_and(|b| {
                    b.topic == topic
                        && b.id == id
                        && b.count.is_some()
                        && !b.superseded.is_cancelled()
                });
                if !live {
                    // Let go of any earlier binding first: its successor may be waiting.
                    *bound = None;
                    self.watched.send_replace(None);
                    let claim = sessions
                        .claim((topic.to_owned(), id))
                        .ok_or(Refusal::Full)?;
                    let superseded = claim.superseded.clone();
                    let count = claim.count_within(CLAIM_WAIT).await.ok_or(Refusal::Busy)?;
                    *bound = Some(Bound {
                        topic: topic.to_owned(),
                        id,
                        superseded: superseded.clone(),
                        count: Some(count),
                    });
                    self.watched.send_replace(Some(superseded));
                }
                Some(seq)
            }
            None => None,
        };
        let Some(b) = bound.as_mut() else {
            // Never bound: a plain publisher, stored as is.
            return Ok((store(0), None));
        };
        if b.topic != topic && named.is_none() {
            // A session is per topic; a POST to another topic on this connection is plain.
            return Ok((store(0), None));
        }
        let Some(count) = b.count.as_mut().filter(|_| !b.superseded.is_cancelled()) else {
            return Err(Refusal::Superseded);
        };
        let accepted = **count;
        // Unnamed POSTs on a bound connection continue at the count.
        let seq = seq.unwrap_or(accepted);
        let skip = accepted.saturating_sub(seq).min(n as u64);
        let next = store(skip as usize);
        // A seq past the count (a restarted server forgot the session) moves the count on.
        **count = accepted.max(seq.saturating_add(n as u64));
        Ok((next, named.map(|_| **count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_repeated_batch_is_stored_once_and_continues_at_the_count() {
        let sessions = SessionTable::default();
        let conn = ConnSession::default();
        let mut stored = Vec::new();
        let mut admit = async |named, n| {
            let mut skipped = None;
            let r = conn
                .admit(&sessions, "t", named, n, |skip| {
                    skipped = Some(skip);
                    0
                })
                .await;
            stored.push(skipped.map(|s| n - s));
            r.map(|(_, count)| count)
        };
        assert_eq!(admit(Some((7, 0)), 3).await, Ok(Some(3)));
        // The same batch again (its reply was lost): nothing new is stored.
        assert_eq!(admit(Some((7, 0)), 3).await, Ok(Some(3)));
        // Overlapping the count: only the new part.
        assert_eq!(admit(Some((7, 2)), 3).await, Ok(Some(5)));
        // Unnamed on the bound connection: continues at the count.
        assert_eq!(admit(None, 2).await, Ok(None));
        assert_eq!(stored, [Some(3), Some(0), Some(2), Some(2)]);
        // A newer connection of the session sees the exact count and supersedes this one.
        let successor = ConnSession::default();
        let waiting = successor.admit(&sessions, "t", Some((7, 5)), 4, |skip| skip as u64);
        let released = conn.release_when_superseded();
        let ((skip, count), ()) = tokio::time::timeout(CLAIM_WAIT, async {
            tokio::join!(async { waiting.await.unwrap() }, released)
        })
        .await
        .unwrap();
        assert_eq!((skip, count), (2, Some(9)));
        assert_eq!(
            conn.admit(&sessions, "t", None, 1, |_| 0).await,
            Err(Refusal::Superseded)
        );
    }

    #[tokio::test]
    async fn a_connection_without_a_session_is_plain() {
        let sessions = SessionTable::default();
        let conn = ConnSession::default();
        let r = conn
            .admit(&sessions, "t", None, 4, |skip| skip as u64)
            .await;
        assert_eq!(r, Ok((0, None)));
    }
}
