//! The fault schedule: what a scenario's `[[faults]]` entries mean, and the task that fires
//! them at their time inside the measured window.
//!
//! - `reset-connections`: every relayed connection (of the targeted side) is reset at once.
//! - `blackhole`: the link holds every byte and every new connection for `duration`, as a
//!   path that drops packets and then recovers looks to TCP.
//! - `server-restart`: the server is stopped (`signal`: killed, the default, as in a crash; or
//!   terminated, a graceful drain), stays down for `duration`, and a new one is started on
//!   the same address with the same options (so file storage is reopened).
//! - `churn`: for `duration`, subscribers disconnect and reconnect with resume at a steady
//!   rate, each chosen deterministically ([`churn_cuts`]); the cuts happen at the
//!   subscribers' own sockets (their read gates), not in the link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, Transport, TransportError};

use super::proxy::LinkProxy;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Reset every connection through the link.
    ResetConnections,
    /// Stop the server, wait `duration`, start it again on the same address.
    ServerRestart,
    /// Hold all traffic for `duration`.
    Blackhole,
    /// Cut subscribers' connections at a steady rate for `duration`; they reconnect at once.
    Churn,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::ResetConnections,
        FaultKind::ServerRestart,
        FaultKind::Blackhole,
        FaultKind::Churn,
    ];
    /// Every kind's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        FaultKind::ALL[0].name(),
        FaultKind::ALL[1].name(),
        FaultKind::ALL[2].name(),
        FaultKind::ALL[3].name(),
    ];

    /// Whether it acts through the link emulator (the others need no proxy in front).
    pub const fn needs_proxy(self) -> bool {
        matches!(self, FaultKind::ResetConnections | FaultKind::Blackhole)
    }

    /// Looks a kind up by its scenario name.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The scenario name (the only place it is spelled).
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::ResetConnections => "reset-connections",
            FaultKind::ServerRestart => "server-restart",
            FaultKind::Blackhole => "blackhole",
            FaultKind::Churn => "churn",
        }
    }
}

/// Whose connections a `reset-connections` or `blackhole` fault affects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Every target.
    pub const ALL: [FaultTarget; 3] = [
        FaultTarget::All,
        FaultTarget::Subscribers,
        FaultTarget::Publishers,
    ];
    /// Every target's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &[
        FaultTarget::ALL[0].name(),
        FaultTarget::ALL[1].name(),
        FaultTarget::ALL[2].name(),
    ];

    /// Looks a target up by its scenario name.
    pub fn from_name(name: &str) -> Option<FaultTarget> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The scenario name (the only place it is spelled).
    pub const fn name(self) -> &'static str {
        match self {
            FaultTarget::All => "all",
            FaultTarget::Subscribers => "subscribers",
            FaultTarget::Publishers => "publishers",
        }
    }
}

/// Both serialize as their scenario name, so the effective scenario reads like the input and
/// a fault's result (`faults[].kind`, `faults[].target`) reads back into the same type.
macro_rules! serde_by_name {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                <$t>::from_name(&name).ok_or_else(|| {
                    serde::de::Error::unknown_variant(&name, <$t>::NAMES)
                })
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.name())
            }
        }
    )*};
}
/// How a `server-restart` stops the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartSignal {
    /// SIGKILL: a crash; what the server held dies with it.
    #[default]
    Kill,
    /// SIGTERM: a graceful stop (an in-process server's shutdown).
    Term,
}

impl RestartSignal {
    /// Every signal.
    pub const ALL: [RestartSignal; 2] = [RestartSignal::Kill, RestartSignal::Term];
    /// Every signal's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &["kill", "term"];

    /// Looks a signal up by its scenario name.
    pub fn from_name(name: &str) -> Option<RestartSignal> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The scenario name.
    pub const fn name(self) -> &'static str {
        match self {
            RestartSignal::Kill => "kill",
            RestartSignal::Term => "term",
        }
    }
}

serde_by_name!(FaultKind, FaultTarget, RestartSignal);

/// How fast a `churn` fault cuts subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnRate {
    /// Subscribers per second.
    RatePerSec(f64),
    /// A share of the subscribers per second.
    SharePerSec(f64),
}

impl ChurnRate {
    /// Cuts per second with `subscribers` subscribers.
    pub fn per_sec(self, subscribers: u32) -> f64 {
        match self {
            ChurnRate::RatePerSec(r) => r,
            ChurnRate::SharePerSec(s) => s * f64::from(subscribers),
        }
    }
}

/// When each subscriber of `subscribers` is cut by a churn at `rate` from `at` for `length`
/// (offsets from the window's start): cut `k` falls at `at + (k + ½) / rate`, in the middle of
/// its slot (so the first cut does not race the fault's own bookkeeping at `at`), and picks subscriber
/// `k * stride mod subscribers`, a stride coprime with the count, so consecutive cuts spread
/// over the fleet and every subscriber is cut once before any is cut twice. Deterministic.
pub fn churn_cuts(
    rate: ChurnRate,
    at: Duration,
    length: Duration,
    subscribers: u32,
) -> Vec<Vec<Duration>> {
    let mut cuts = vec![Vec::new(); subscribers as usize];
    let per_sec = rate.per_sec(subscribers);
    if subscribers == 0 || per_sec <= 0.0 {
        return cuts;
    }
    let n = u64::from(subscribers);
    let stride = (n * 618 / 1000..=n)
        .chain(1..n)
        .find(|&s| s > 0 && gcd(s, n) == 1)
        .unwrap_or(1);
    let count = (per_sec * length.as_secs_f64()).floor() as u64;
    for k in 0..count {
        let when = at + Duration::from_secs_f64((k as f64 + 0.5) / per_sec);
        cuts[((k * stride) % n) as usize].push(when);
    }
    cuts
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fault {
    /// When it fires, from the start of the measured window.
    #[serde(with = "transport_core::duration")]
    pub at: Duration,
    /// What it does.
    pub kind: FaultKind,
    /// How long a blackhole lasts or a restarted server stays down (zero for resets).
    #[serde(with = "transport_core::duration")]
    pub duration: Duration,
    /// Whose connections it affects (resets only; a blackhole and a restart hit everyone).
    pub target: FaultTarget,
    /// How a restart stops the server (restarts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<RestartSignal>,
    /// How fast a churn cuts subscribers (churn only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnRate>,
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

    /// Stops the server, calls `stopped` (once the old server is gone, or its shutdown
    /// failed), waits `down`, and starts a new one on the same address (a fresh port, with the
    /// proxy repointed, if the old one cannot be bound again).
    pub async fn restart(
        &self,
        down: Duration,
        proxy: Option<&LinkProxy>,
        stopped: impl FnOnce(),
    ) -> Result<(), String> {
        let stop = self.stop().await;
        stopped();
        stop?;
        self.start_after(down, proxy).await
    }

    /// Stops the server and returns once it has (no-op if none is running).
    async fn stop(&self) -> Result<(), String> {
        let server = self.server.lock().await.take();
        if let Some(s) = server {
            // Graceful, as `serve` stops on SIGTERM: clients first take what it holds.
            s.drain().await;
            tokio::time::timeout(RESTART_TIMEOUT, s.shutdown())
                .await
                .map_err(|_| "server shutdown timed out".to_owned())?
                .map_err(|e| format!("server shutdown: {e}"))?;
        }
        Ok(())
    }

    /// Waits `down`, then starts a new server on the first one's address, or on a fresh port
    /// with the proxy repointed if that address cannot be bound again.
    async fn start_after(&self, down: Duration, proxy: Option<&LinkProxy>) -> Result<(), String> {
        let mut slot = self.server.lock().await;
        tokio::time::sleep(down).await;
        let listener = match (rebind(self.addr).await, proxy) {
            (Some(l), _) => l,
            (None, Some(_)) => TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("binding a new server port: {e}"))?,
            (None, None) => return Err(format!("{} could not be bound again", self.addr)),
        };
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::time::timeout(
            RESTART_TIMEOUT,
            T::serve(&self.config, listener, self.ctx.clone()),
        )
        .await
        .map_err(|_| "restarted server did not start in time".to_owned())?
        .map_err(|e| format!("restarting the server: {e}"))?;
        if let (true, Some(proxy)) = (bound != self.addr, proxy) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_what_serde_writes() {
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::from_name(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        for t in FaultTarget::ALL {
            assert_eq!(FaultTarget::from_name(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
        assert_eq!(
            FaultKind::NAMES,
            ["reset-connections", "server-restart", "blackhole", "churn"]
        );
        for t in RestartSignal::ALL {
            assert_eq!(RestartSignal::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn churn_cuts_the_asked_count_spread_over_everyone() {
        let cuts = churn_cuts(
            ChurnRate::SharePerSec(0.05),
            Duration::from_secs(1),
            Duration::from_secs(20),
            100,
        );
        let all: Vec<Duration> = cuts.iter().flatten().copied().collect();
        assert_eq!(all.len(), 100, "5 per second for 20 s");
        assert!(
            cuts.iter().all(|c| c.len() == 1),
            "each once before any twice"
        );
        assert!(
            all.iter()
                .all(|&c| c > Duration::from_secs(1) && c < Duration::from_secs(21))
        );
        assert_eq!(
            all.iter().min(),
            Some(&Duration::from_millis(1100)),
            "mid-slot"
        );
        let again = churn_cuts(
            ChurnRate::RatePerSec(5.0),
            Duration::from_secs(1),
            Duration::from_secs(20),
            100,
        );
        assert_eq!(
            cuts, again,
            "deterministic, and a rate is the same as its share"
        );
        assert_eq!(FaultTarget::NAMES, ["all", "subscribers", "publishers"]);
    }
}
