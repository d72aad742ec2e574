//! The fault schedule: what a scenario's `[[faults]]` entries mean, and the task that fires
//! them at their time inside the measured window.
//!
//! - `reset-connections`: every relayed connection (of the targeted side) is reset at once.
//! - `blackhole`: the link holds every byte and every new connection for `duration`, as a
//!   path that drops packets and then recovers looks to TCP.
//! - `server-restart`: the server is shut down, stays down for `duration`, and a new one is
//!   started on the same address with the same options (so file storage is reopened).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, Transport, TransportError};

use super::proxy::LinkProxy;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Reset every connection through the link.
    ResetConnections,
    /// Stop the server, wait `duration`, start it again on the same address.
    ServerRestart,
    /// Hold all traffic for `duration`.
    Blackhole,
}

impl FaultKind {
    /// Every kind's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] =
        &["reset-connections", "server-restart", "blackhole"];

    /// Looks a kind up by its scenario name.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        match name {
            "reset-connections" => Some(FaultKind::ResetConnections),
            "server-restart" => Some(FaultKind::ServerRestart),
            "blackhole" => Some(FaultKind::Blackhole),
            _ => None,
        }
    }

    /// The scenario name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ResetConnections => "reset-connections",
            FaultKind::ServerRestart => "server-restart",
            FaultKind::Blackhole => "blackhole",
        }
    }
}

/// Whose connections a `reset-connections` or `blackhole` fault affects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultTarget {
    /// Publishers and subscribers.
    #[default]
    All,
    /// Only subscribers' connections.
    Subscribers,
    /// Only publishers' connections.
    Publishers,
}

impl FaultTarget {
    /// Every target's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &["all", "subscribers", "publishers"];

    /// Looks a target up by its scenario name.
    pub fn from_name(name: &str) -> Option<FaultTarget> {
        match name {
            "all" => Some(FaultTarget::All),
            "subscribers" => Some(FaultTarget::Subscribers),
            "publishers" => Some(FaultTarget::Publishers),
            _ => None,
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// When it fires, from the start of the measured window.
    #[serde(with = "crate::link::human")]
    pub at: Duration,
    /// What it does.
    pub kind: FaultKind,
    /// How long a blackhole lasts or a restarted server stays down (zero for resets).
    #[serde(with = "crate::link::human")]
    pub duration: Duration,
    /// Whose connections it affects (resets only; a blackhole and a restart hit everyone).
    pub target: FaultTarget,
}

/// The run's server, restartable in place by a `server-restart` fault.
pub struct ServerSlot<T: Transport> {
    server: tokio::sync::Mutex<Option<T::Server>>,
    config: T::Config,
    ctx: ServerContext,
    addr: SocketAddr,
}

/// How long a restarted server may take to bind and start.
const RESTART_TIMEOUT: Duration = Duration::from_secs(10);

impl<T: Transport> ServerSlot<T> {
    /// Holds a started server.
    pub fn new(server: T::Server, config: T::Config, ctx: ServerContext) -> Arc<Self> {
        let addr = server.local_addr();
        Arc::new(ServerSlot {
            server: tokio::sync::Mutex::new(Some(server)),
            config,
            ctx,
            addr,
        })
    }

    /// The address the first server bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts the server down (no-op if a restart left none running).
    pub async fn shutdown(&self) -> Result<(), TransportError> {
        let server = self.server.lock().await.take();
        match server {
            Some(s) => s.shutdown().await,
            None => Ok(()),
        }
    }

    /// Stops the server, waits `down`, and starts a new one on the same address (a fresh
    /// port, with the proxy repointed, if the old one cannot be bound again).
    pub async fn restart(&self, down: Duration, proxy: &LinkProxy) -> Result<(), String> {
        let mut slot = self.server.lock().await;
        if let Some(s) = slot.take() {
            tokio::time::timeout(RESTART_TIMEOUT, s.shutdown())
                .await
                .map_err(|_| "server shutdown timed out".to_owned())?
                .map_err(|e| format!("server shutdown: {e}"))?;
        }
        tokio::time::sleep(down).await;
        let listener = match rebind(self.addr).await {
            Some(l) => l,
            None => TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("binding a new server port: {e}"))?,
        };
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::time::timeout(
            RESTART_TIMEOUT,
            T::serve(&self.config, listener, self.ctx.clone()),
        )
        .await
        .map_err(|_| "restarted server did not start in time".to_owned())?
        .map_err(|e| format!("restarting the server: {e}"))?;
        if bound != self.addr {
            proxy.set_upstream(bound);
        }
        *slot = Some(server);
        Ok(())
    }
}

/// Binds `addr` again, retrying briefly: tokio sets `SO_REUSEADDR` on Unix listeners, so the
/// old server's connections in TIME_WAIT do not block it, but its listener may take a moment
/// to close.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..20 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
