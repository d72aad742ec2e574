//! The run's server, however it is reached: the "start server" phase and the handle the rest of
//! the run uses (its address, its server-side wire bytes, restarting it, shutting it down).
//!
//! Today a server is either started in-process on `127.0.0.1:0` or external (the transport's
//! options name an address, e.g. a real Kafka). A server in a child process or on another host
//! is another [`Reach`] variant: the run only sees [`RunServer`].

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{Counters, ServerContext, SocketOptions, Transport, WireSnapshot, WireStats};

use crate::link::ServerSlot;

/// How the run reaches its server.
enum Reach<T: Transport> {
    /// Started by this process; its sockets count into `wire`, and it can be restarted.
    InProcess {
        slot: Arc<ServerSlot<T>>,
        wire: Arc<WireStats>,
    },
    /// Someone else's server: nothing to read server-side, nothing to stop.
    External,
}

/// The started (or external) server of one run.
pub struct RunServer<T: Transport> {
    addr: String,
    reach: Reach<T>,
}

impl<T: Transport> RunServer<T> {
    /// Starts the server (or, when the options name one, uses the external server), with its
    /// start bounded by `bound`.
    pub async fn start(
        config: &T::Config,
        socket: SocketOptions,
        counters: &Arc<Counters>,
        bound: Duration,
    ) -> anyhow::Result<RunServer<T>> {
        if let Some(addr) = T::external_address(config) {
            return Ok(RunServer {
                addr,
                reach: Reach::External,
            });
        }
        let ctx = ServerContext {
            wire: WireStats::new(),
            counters: counters.clone(),
            socket,
        };
        let wire = ctx.wire.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = tokio::time::timeout(bound, T::serve(config, listener, ctx.clone()))
            .await
            .map_err(|_| anyhow::anyhow!("server start did not finish within {bound:?}"))??;
        let slot = ServerSlot::<T>::new(server, config.clone(), ctx);
        Ok(RunServer {
            addr: slot.addr().to_string(),
            reach: Reach::InProcess { slot, wire },
        })
    }

    /// The address clients connect to (before any link emulator).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The restartable slot, for a `server-restart` fault; `None` for a server we do not own.
    pub fn restartable(&self) -> Option<Arc<ServerSlot<T>>> {
        match &self.reach {
            Reach::InProcess { slot, .. } => Some(slot.clone()),
            Reach::External => None,
        }
    }

    /// Bytes at the server's sockets (zero where they cannot be read).
    pub fn wire(&self) -> WireSnapshot {
        match &self.reach {
            Reach::InProcess { wire, .. } => wire.snapshot(),
            Reach::External => WireSnapshot::default(),
        }
    }

    /// Shuts the server down within `bound`; problems are added to `failures`.
    pub async fn shutdown(&self, bound: Duration, failures: &mut Vec<String>) {
        let Reach::InProcess { slot, .. } = &self.reach else {
            return;
        };
        match tokio::time::timeout(bound, slot.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("server shutdown: {e}")),
            Err(_) => failures.push(format!("server shutdown did not finish within {bound:?}")),
        }
    }
}
