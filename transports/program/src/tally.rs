//! [`SocketTally`]: the connection of one client whose library owns its socket, found among
//! this process's connections to the server, whose kernel counters ([`crate::tcp_info`]) are
//! added to a run's [`WireStats`] as a `CountingIo` would add them, with the connection's
//! setup counted as handshake until [`SocketTally::end_handshake`].
//!
//! The tally registers itself as a [`WireProbe`], so every snapshot of the stats is exact at
//! that instant for a live connection. [`SocketTally::claim`] takes the newest connection to
//! the server that no other tally of this process holds: right after the library connected,
//! and again after it reconnected. Two clients whose libraries connect at the same instant
//! may each take the other's connection; their bytes still add to the same stats (a client
//! library that connects one client at a time under a lock, as the NATS transports do for
//! first connections, avoids even that). What a connection moved after the last reading
//! before it closed is not seen (the kernel drops its counters with the socket), so a client
//! refreshes before it closes, and reconnects lose at most the bytes since the last snapshot.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use transport_core::{WireProbe, WireStats};

use crate::tcp_info::{TcpBytes, TcpInfoReader, owned_by_us};

/// Socket inodes held by a live tally of this process.
static CLAIMED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn claimed() -> MutexGuard<'static, BTreeSet<u32>> {
    CLAIMED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kernel-counted bytes of one client's connection to `peer`, added to a [`WireStats`].
#[derive(Debug)]
pub struct SocketTally {
    wire: Arc<WireStats>,
    peer: SocketAddr,
    handshake: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    reader: Option<TcpInfoReader>,
    /// The connection held now: local address and inode.
    current: Option<(SocketAddr, u32)>,
    /// Its counters at the last reading.
    last: Option<TcpBytes>,
    /// Why the counters could not be read (then the tally stops trying).
    failed: Option<String>,
}

impl SocketTally {
    /// A tally of a connection to `peer` not yet claimed, counting into `wire` (as handshake
    /// until [`SocketTally::end_handshake`]), refreshed before every snapshot of `wire`.
    pub fn register(wire: Arc<WireStats>, peer: SocketAddr) -> Arc<Self> {
        let (reader, failed) = match TcpInfoReader::new() {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("sock_diag netlink socket: {e}"))),
        };
        let tally = Arc::new(SocketTally {
            wire: wire.clone(),
            peer,
            handshake: AtomicBool::new(true),
            state: Mutex::new(State {
                reader,
                current: None,
                last: None,
                failed,
            }),
        });
        let weak: Weak<SocketTally> = Arc::downgrade(&tally);
        wire.register_probe(weak);
        tally
    }

    /// Holds on to this client's connection: the one it holds if that is still open, else
    /// the newest connection to the server no other tally holds. Returns its local address.
    pub fn claim(&self) -> Option<SocketAddr> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let reader = state.reader.as_mut()?;
        // Still open: one direct query, no listing (this runs on every reconnect event).
        if let Some((local, inode)) = state.current
            && matches!(reader.read(local, self.peer), Ok(Some(b)) if b.inode == inode)
        {
            return Some(local);
        }
        let newest = match newest_unclaimed(reader, self.peer, state.current) {
            Ok(n) => n,
            Err(e) => {
                state.failed = Some(format!("finding our connection to {}: {e}", self.peer));
                state.reader = None;
                return None;
            }
        }?;
        state.current = Some(newest);
        state.last = None;
        self.update(state);
        Some(newest.0)
    }

    /// Why the kernel's counters could not be read, if they could not.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Brings the counts up to date, then counts what follows as steady state.
    pub fn end_handshake(&self) {
        self.refresh();
        self.handshake.store(false, Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds what the held connection moved since the last reading.
    fn update(&self, state: &mut State) {
        let (Some((local, inode)), Some(reader)) = (state.current, state.reader.as_mut()) else {
            return;
        };
        let now = match reader.read(local, self.peer) {
            // Another socket on the same four-tuple is not ours.
            Ok(Some(now)) if now.inode == inode => now,
            Ok(_) => return,
            Err(e) => {
                state.failed = Some(format!("sock_diag read of {local}: {e}"));
                state.reader = None;
                return;
            }
        };
        let since = state.last.unwrap_or_else(|| {
            self.wire.add_connection();
            TcpBytes {
                inode,
                acked: 0,
                received: 0,
            }
        });
        let read = now.received.saturating_sub(since.received);
        let written = now.acked.saturating_sub(since.acked);
        self.wire.add(self.handshake.load(Relaxed), read, written);
        state.last = Some(now);
    }
}

/// Takes (in [`CLAIMED`]) the newest connection to `peer` that no tally holds and that is
/// ours, releasing `old`. When exactly one is unclaimed it is ours (the caller's connection
/// exists and is unclaimed), so our descriptors are listed only when others' connections to
/// the same server are around.
fn newest_unclaimed(
    reader: &mut TcpInfoReader,
    peer: SocketAddr,
    old: Option<(SocketAddr, u32)>,
) -> std::io::Result<Option<(SocketAddr, u32)>> {
    let conns = reader.connections_to(peer)?;
    let mut held = claimed();
    if let Some((_, old)) = old {
        held.remove(&old);
    }
    let mut free: Vec<(SocketAddr, u32)> = conns
        .into_iter()
        .filter(|(_, inode)| !held.contains(inode))
        .collect();
    if free.len() > 1 {
        let inodes: Vec<u32> = free.iter().map(|c| c.1).collect();
        let ours = owned_by_us(&inodes)?;
        free.retain(|c| ours.contains(&c.1));
    }
    let newest = free.into_iter().max_by_key(|&(_, inode)| inode);
    if let Some((_, inode)) = newest {
        held.insert(inode);
    }
    Ok(newest)
}

impl WireProbe for SocketTally {
    fn refresh(&self) {
        let mut state = self.lock();
        self.update(&mut state);
    }
}

impl Drop for SocketTally {
    fn drop(&mut self) {
        if let Some((_, inode)) = self.lock().current {
            claimed().remove(&inode);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn a_snapshot_sees_the_bytes_split_at_the_handshake() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let wire = WireStats::new();
        let tally = SocketTally::register(wire.clone(), peer);
        assert_eq!(tally.claim(), None, "no connection yet");
        let mut client = std::net::TcpStream::connect(peer).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert_eq!(tally.claim(), Some(client.local_addr().unwrap()));
        let other = SocketTally::register(wire.clone(), peer);
        assert_eq!(other.claim(), None, "a held connection is not taken twice");
        let mut exchange = |out: usize, back: usize| {
            client.write_all(&vec![1; out]).unwrap();
            server.read_exact(&mut vec![0; out]).unwrap();
            server.write_all(&vec![2; back]).unwrap();
            client.read_exact(&mut vec![0; back]).unwrap();
        };
        exchange(10, 20);
        tally.end_handshake();
        exchange(100, 300);
        // The answer proves the peer got our bytes; its ACK may still be on its way.
        let mut snap = wire.snapshot();
        for _ in 0..1000 {
            if snap.total_written() == 110 {
                break;
            }
            std::thread::yield_now();
            snap = wire.snapshot();
        }
        assert_eq!(snap.connections, 1);
        assert_eq!((snap.handshake_written, snap.handshake_read), (10, 20));
        assert_eq!((snap.written, snap.read), (100, 300));
        assert!(tally.failure().is_none());
    }
}
