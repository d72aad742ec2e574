//! Socket options applied explicitly to every socket, and recorded in results.
//!
//! Nagle's algorithm left on for one transport and off for another is the classic unfair
//! comparison (tokio-tungstenite's `connect_async` leaves it on), so no transport relies on
//! defaults: each calls [`SocketOptions::apply`] on every accepted and connected stream.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};

use crate::TransportError;

/// Options set on every TCP socket of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketOptions {
    /// `TCP_NODELAY`: true disables Nagle's algorithm.
    pub nodelay: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions { nodelay: true }
    }
}

impl SocketOptions {
    /// Applies the options to `stream`.
    pub fn apply(&self, stream: &TcpStream) -> Result<(), TransportError> {
        stream
            .set_nodelay(self.nodelay)
            .map_err(TransportError::io("set TCP_NODELAY"))
    }

    /// Connects to `addr` and applies the options.
    pub async fn connect(&self, addr: &str) -> Result<TcpStream, TransportError> {
        self.connect_from(addr, None).await
    }

    /// Connects to `addr` from the local address `source` (any port), or from whatever the
    /// kernel picks when `None`, and applies the options.
    ///
    /// Binding the source is how one host opens more connections to one server than its
    /// ephemeral port range allows (~28K per source/destination address pair): each further
    /// loopback source (127.0.0.2, …) brings its own range.
    pub async fn connect_from(
        &self,
        addr: &str,
        source: Option<IpAddr>,
    ) -> Result<TcpStream, TransportError> {
        self.connect_with(addr, source, None).await
    }

    /// Connects as [`SocketOptions::connect_from`] does, with the receive buffer fixed at
    /// `recv_buffer` bytes when given (before connecting, so the window it advertises fits).
    ///
    /// A fixed receive buffer turns off the kernel's autotuning, which on loopback lets one
    /// connection's receive buffer grow to megabytes: a slow reader would then hide its whole
    /// backlog in its own kernel buffer instead of leaving it with the server, as a slow device
    /// across a network does.
    pub async fn connect_with(
        &self,
        addr: &str,
        source: Option<IpAddr>,
        recv_buffer: Option<u32>,
    ) -> Result<TcpStream, TransportError> {
        let stream = match (source, recv_buffer) {
            (None, None) => TcpStream::connect(addr)
                .await
                .map_err(TransportError::io("connect"))?,
            _ => socket_connect(addr, source, recv_buffer).await?,
        };
        self.apply(&stream)?;
        Ok(stream)
    }
}

/// Connects a socket made here to the first address of `addr` (in the family of `source`, when
/// one is given), bound to `source` (port 0) and with a fixed receive buffer when asked.
async fn socket_connect(
    addr: &str,
    source: Option<IpAddr>,
    recv_buffer: Option<u32>,
) -> Result<TcpStream, TransportError> {
    let target = tokio::net::lookup_host(addr)
        .await
        .map_err(TransportError::io("resolve"))?
        .find(|a| source.is_none_or(|s| a.is_ipv4() == s.is_ipv4()))
        .ok_or_else(|| {
            TransportError::io("resolve")(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!("{addr} has no address in the family of source {source:?}"),
            ))
        })?;
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(TransportError::io("socket"))?;
    if let Some(source) = source {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(TransportError::io("bind source address"))?;
    }
    if let Some(bytes) = recv_buffer {
        socket
            .set_recv_buffer_size(bytes)
            .map_err(TransportError::io("set SO_RCVBUF"))?;
    }
    socket
        .connect(target)
        .await
        .map_err(TransportError::io("connect"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_from_the_chosen_loopback_source() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let source: IpAddr = "127.0.0.7".parse().unwrap();
        let options = SocketOptions::default();
        let (client, accepted) =
            tokio::join!(options.connect_from(&addr, Some(source)), listener.accept());
        let client = client.unwrap();
        assert_eq!(client.local_addr().unwrap().ip(), source);
        assert_eq!(
            accepted.unwrap().1.ip(),
            source,
            "the server sees the source"
        );
        assert!(client.nodelay().unwrap(), "options still apply");
    }
}
