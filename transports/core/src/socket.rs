//! Socket options applied explicitly to every socket, and recorded in results.
//!
//! Nagle's algorithm left on for one transport and off for another is the classic unfair
//! comparison (tokio-tungstenite's `connect_async` leaves it on), so no transport relies on
//! defaults: each calls [`SocketOptions::apply`] on every accepted and connected stream.

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

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
        let stream = TcpStream::connect(addr)
            .await
            .map_err(TransportError::io("connect"))?;
        self.apply(&stream)?;
        Ok(stream)
    }
}
