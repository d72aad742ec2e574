//! [`CutProxy`]: a loopback TCP relay whose connections can be cut on demand, and which records
//! where each connection came from. The conformance kit and transports' reconnect tests use it
//! to force reconnects and to see source addresses without touching a transport's internals.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP relay between clients and a server whose connections can be cut on demand, to force
/// reconnects without touching the transport's internals.
pub struct CutProxy {
    addr: SocketAddr,
    conns: Arc<Mutex<JoinSet<()>>>,
    /// The source address of every connection accepted, in order: what the server would see.
    peers: Arc<Mutex<Vec<IpAddr>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Starts relaying from a fresh loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let peers: Arc<Mutex<Vec<IpAddr>>> = Arc::default();
        let tasks = conns.clone();
        let seen = peers.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut down, peer)) = listener.accept().await {
                let _ = down.set_nodelay(true);
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(peer.ip());
                let mut tasks = tasks.lock().unwrap_or_else(PoisonError::into_inner);
                tasks.spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = up.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        CutProxy {
            addr,
            conns,
            peers,
            accept,
        }
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The source address of every connection relayed so far, in the order they were accepted.
    pub fn peers(&self) -> Vec<IpAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops every relayed connection at once, as a network failure would.
    pub fn cut_all(&self) {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .abort_all();
    }

    /// Cuts every relayed connection and returns once each relay has stopped, so nothing more
    /// crosses it (an abort lands at the relay's next await, possibly after a few more bytes).
    pub async fn cut(&self) {
        let mut relays =
            std::mem::take(&mut *self.conns.lock().unwrap_or_else(PoisonError::into_inner));
        relays.abort_all();
        while relays.join_next().await.is_some() {}
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}
