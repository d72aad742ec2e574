//! [`SharedConns`]: connections that several clients of one run use at once.
//!
//! An HTTP/2 connection carries many requests side by side, so a browser or a proxy puts every
//! held poll and event stream to one origin on one connection. For a run to measure that, its
//! subscribers must find each other's connections: the runner gives every subscriber of a run
//! the same `SharedConns`, and a transport that multiplexes looks a connection up here before it
//! opens one. The table holds connections weakly: a connection lives while one of its clients
//! does, and closes with the last one, as it would in a browser tab.
//!
//! The table knows nothing of HTTP: an entry is any `Send + Sync` value under a key the
//! transport chooses (its address and source, say), and the transport decides whether an entry
//! still has room for one more client.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Weak};

use tokio::sync::Mutex;

/// A shared connection as the table holds it: weakly, of any type.
type Entry = Weak<dyn Any + Send + Sync>;

/// Connections shared by the clients of one run (cloning shares the table).
#[derive(Clone, Default)]
pub struct SharedConns {
    table: Arc<Mutex<HashMap<String, Vec<Entry>>>>,
}

impl std::fmt::Debug for SharedConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConns").finish_non_exhaustive()
    }
}

impl SharedConns {
    /// A live entry under `key` that `usable` accepts, or a new one made by `open` (and kept
    /// under `key`). Lookups and openings are serialised, so clients that start together fill
    /// one connection before the next is opened, instead of each opening its own.
    pub async fn get_or_open<T, E, F, Fut>(
        &self,
        key: &str,
        usable: impl Fn(&Arc<T>) -> bool,
        open: F,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<T>, E>>,
    {
        let mut table = self.table.lock().await;
        let entries = table.entry(key.to_owned()).or_default();
        entries.retain(|w| w.strong_count() > 0);
        let found = entries
            .iter()
            .filter_map(|w| w.upgrade()?.downcast::<T>().ok())
            .find(|c| usable(c));
        if let Some(conn) = found {
            return Ok(conn);
        }
        let conn = open().await?;
        let erased: Arc<dyn Any + Send + Sync> = conn.clone();
        entries.push(Arc::downgrade(&erased));
        Ok(conn)
    }

    /// Live entries under `key` (for tests and figures).
    pub async fn count(&self, key: &str) -> usize {
        let table = self.table.lock().await;
        table
            .get(key)
            .map_or(0, |v| v.iter().filter(|w| w.strong_count() > 0).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_are_shared_while_usable_and_dropped_with_their_last_user() {
        let shared = SharedConns::default();
        let open = |n: u32| move || async move { Ok::<_, ()>(Arc::new(n)) };
        // Room for two users each (the table's weak reference does not count).
        let room = |c: &Arc<u32>| Arc::strong_count(c) < 3;
        let a = shared.get_or_open("k", room, open(1)).await.unwrap();
        let b = shared.get_or_open("k", room, open(2)).await.unwrap();
        assert_eq!((*a, *b), (1, 1), "the second user shares the first entry");
        let c = shared.get_or_open("k", room, open(3)).await.unwrap();
        assert_eq!(*c, 3, "a full entry makes the next user open another");
        let other = shared.get_or_open("other", room, open(4)).await.unwrap();
        assert_eq!(*other, 4, "keys do not share");
        assert_eq!(shared.count("k").await, 2);
        drop((a, b));
        assert_eq!(
            shared.count("k").await,
            1,
            "an entry goes with its last user"
        );
    }
}
