//! [`OutsideTally`]: the kernel-counted bytes of every connection to a server that another
//! process on this host opened — a browser's, whose sockets neither our `CountingIo` nor the
//! server's own counting sees when the server is a program we did not write (nginx).
//!
//! Each reading lists the connections to the server (`sock_diag`, [`crate::tcp_info`]), sets
//! aside those this process owns (the publishers', counted by `CountingIo` already), and adds
//! what each of the others moved since its last reading to a [`WireStats`], with a
//! connection's first sighting counted from its start. The tally is a [`WireProbe`], so every
//! snapshot of the stats is exact at that instant for every open connection. What a
//! connection moves after its last reading before it closes is not seen (the kernel drops its
//! counters with the socket): a client refreshes before it closes its connections, and what
//! goes unseen is the closing exchange (a WebSocket close frame, say).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use transport_core::{WireProbe, WireStats};

use crate::tcp_info::{TcpBytes, TcpInfoReader, owned_by_us};

/// The kernel-counted bytes of other processes' connections to one server.
#[derive(Debug)]
pub struct OutsideTally {
    wire: Arc<WireStats>,
    peer: SocketAddr,
    /// Subscriptions being set up: while any is, bytes count as handshake.
    opening: AtomicU32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    reader: Option<TcpInfoReader>,
    /// Others' connections seen, by inode: local address and counters at the last reading.
    seen: HashMap<u32, (SocketAddr, TcpBytes)>,
    /// Inodes of this process's own connections, never counted here.
    ours: HashSet<u32>,
    /// Why the counters could not be read (then the tally stops trying).
    failed: Option<String>,
}

impl OutsideTally {
    /// A tally of others' connections to `peer`, counting into `wire`, refreshed before every
    /// snapshot of `wire`.
    pub fn register(wire: Arc<WireStats>, peer: SocketAddr) -> Arc<Self> {
        let mut state = State::default();
        match TcpInfoReader::new() {
            Ok(r) => state.reader = Some(r),
            Err(e) => state.failed = Some(format!("sock_diag netlink socket: {e}")),
        }
        let tally = Arc::new(OutsideTally {
            wire: wire.clone(),
            peer,
            opening: AtomicU32::new(0),
            state: Mutex::new(state),
        });
        let weak: Weak<OutsideTally> = Arc::downgrade(&tally);
        wire.register_probe(weak);
        tally
    }

    /// A subscription starts setting up: what moves until [`OutsideTally::opened`] is handshake.
    pub fn opening(&self) {
        self.refresh();
        self.opening.fetch_add(1, Relaxed);
    }

    /// A subscription is set up (or gave up): the counts are brought up to date first.
    pub fn opened(&self) {
        self.refresh();
        let _ = self
            .opening
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// Why the kernel's counters could not be read, if they could not.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists the connections to the server and adds what each of others' moved.
    fn update(&self, state: &mut State) -> std::io::Result<()> {
        let Some(reader) = state.reader.as_mut() else {
            return Ok(());
        };
        // Inode 0 is a socket in TIME_WAIT, which keeps no counters.
        let conns: Vec<(SocketAddr, u32)> = reader
            .connections_to(self.peer)?
            .into_iter()
            .filter(|&(_, inode)| inode != 0 && !state.ours.contains(&inode))
            .collect();
        let new: Vec<u32> = conns
            .iter()
            .map(|c| c.1)
            .filter(|i| !state.seen.contains_key(i))
            .collect();
        if !new.is_empty() {
            state.ours.extend(owned_by_us(&new)?);
        }
        let handshake = self.opening.load(Relaxed) > 0;
        for (local, inode) in conns {
            if state.ours.contains(&inode) {
                continue;
            }
            let Some(now) = reader.read(local, self.peer)? else {
                continue;
            };
            if now.inode != inode {
                continue;
            }
            let since = match state.seen.get(&inode) {
                Some(&(_, last)) => last,
                None => {
                    self.wire.add_connection();
                    TcpBytes {
                        inode,
                        acked: 0,
                        received: 0,
                    }
                }
            };
            let read = now.received.saturating_sub(since.received);
            let written = now.acked.saturating_sub(since.acked);
            self.wire.add(handshake, read, written);
            state.seen.insert(inode, (local, now));
        }
        Ok(())
    }
}

impl WireProbe for OutsideTally {
    fn refresh(&self) {
        let mut state = self.lock();
        if let Err(e) = self.update(&mut state) {
            state.failed = Some(format!(
                "sock_diag reading of connections to {}: {e}",
                self.peer
            ));
            state.reader = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    use super::*;

    /// Another process's connection (a child `bash` on /dev/tcp) is counted exactly, split at
    /// the handshake; our own connection to the same server is not.
    #[test]
    fn counts_another_process_connection_and_not_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = listener.local_addr().unwrap();
        let wire = WireStats::new();
        let tally = OutsideTally::register(wire.clone(), peer);
        let _ours = std::net::TcpStream::connect(peer).unwrap();
        let (_ours_at_server, _) = listener.accept().unwrap();
        tally.opening();
        // The child writes 10 bytes and reads 20 (its handshake), waits for one more byte, then
        // writes 100 and reads 300, and holds the connection until we close it.
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{}; printf '%010d' 0 >&3; head -c 20 <&3 >/dev/null; \
             head -c 1 <&3 >/dev/null; printf '%0100d' 0 >&3; head -c 300 <&3 >/dev/null; \
             cat <&3 >/dev/null",
            peer.port()
        );
        let mut child = Command::new("bash")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.read_exact(&mut [0; 10]).unwrap();
        server.write_all(&[b'a'; 20]).unwrap();
        // Loopback delivery and acks are near-immediate, but a reading can race them: bounded.
        let settle = |written: u64, read: u64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let mut snap = wire.snapshot();
            while (snap.total_written(), snap.total_read()) != (written, read)
                && std::time::Instant::now() < deadline
            {
                std::thread::yield_now();
                snap = wire.snapshot();
            }
            snap
        };
        settle(10, 20);
        tally.opened();
        server.write_all(b"g").unwrap();
        server.read_exact(&mut [0; 100]).unwrap();
        server.write_all(&[b'b'; 300]).unwrap();
        let snap = settle(110, 321);
        drop(server);
        let _ = child.wait();
        assert!(tally.failure().is_none(), "{:?}", tally.failure());
        assert_eq!(snap.connections, 1, "ours is not counted: {snap:?}");
        assert_eq!((snap.handshake_written, snap.handshake_read), (10, 20));
        assert_eq!((snap.written, snap.read), (100, 301), "{snap:?}");
    }
}
