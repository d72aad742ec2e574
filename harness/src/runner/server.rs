//! The run's server, however it is reached: the "start server" phase and the handle the rest of
//! the run uses (its address, its server-side wire bytes, restarting it, shutting it down).
//!
//! A server is started as a child process (`transport-bench serve`, the default `[server] mode`:
//! its CPU, memory and descriptors are then its own, read from its metrics endpoint), started
//! in-process on `127.0.0.1:0`, remote (someone else started `serve` on another host: `run
//! --server`, read through `--server-metrics` when given), or external (the transport's options
//! name a broker, e.g. a real Kafka), or a program we did not write that the transport starts
//! (nginx with Nchan: [`super::program`]). The run only sees [`RunServer`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{
    Counters, GaugeReading, ServerContext, ServerHandle, ServerKind, SocketOptions, Transport,
    WireSnapshot, WireStats,
};

use super::ctx::Remote;
use super::restart::{Incarnations, ProgramRestart, Restartable};
use crate::exit::BadInput;
use crate::link::ServerSlot;
use crate::registry::TransportKind;
use crate::results::resources::Occupancy;
use crate::results::{FailureKind, Failures};
use crate::scenario::tls::RunTls;
use crate::scenario::{ServerMode, ServerPlacement};
use crate::server::child::{ChildError, ChildServer, ChildSpec};
use crate::server::resources::ProcessResources;
use crate::server::{MetricsSource, ServerSnapshot, scrape};

/// Bound on one scrape of a child server's metrics endpoint.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the run reads from its server when it ends: server-side bytes and, for a server in its
/// own process, the transport's server-side counters (an in-process server counts into the
/// run's own [`Counters`]).
#[derive(Debug, Default)]
pub struct ServerFigures {
    /// Bytes at the server's sockets; `None` when they cannot be read.
    pub wire: Option<WireSnapshot>,
    /// Counters the server process kept (empty when they are already in the run's counters).
    pub counters: BTreeMap<String, u64>,
}

/// One reading of the server (see [`RunServer::sample`]).
#[derive(Debug, Clone, Default)]
pub struct ServerSample {
    /// Its process's figures, when it has a process of its own that could be read.
    pub process: Option<ProcessResources>,
    /// Its gauges (level and peak), empty when unread.
    pub gauges: BTreeMap<String, GaugeReading>,
    /// What it holds for subscribers now, when it could be read.
    pub occupancy: Option<Occupancy>,
    /// Whether the server was started for this run, so its gauges' peaks belong to the run.
    pub fresh: bool,
}

/// Why a remote server without a metrics endpoint is not measured.
const NO_METRICS: &str = "the server is remote and no --server-metrics URL was given for it";
/// Why an external broker is not measured.
const EXTERNAL: &str = "the server is external and has no metrics endpoint";

/// How the run reaches its server.
enum Reach<T: Transport> {
    /// Started by this process; its sockets count into `wire`, and it can be restarted.
    InProcess {
        slot: Arc<ServerSlot<T>>,
        wire: Arc<WireStats>,
        counters: Arc<Counters>,
    },
    /// A `transport-bench serve` child process, read through its metrics endpoint; a
    /// restart replaces it with a new one on the same port. The folder holds its TLS
    /// certificate and key, which a restarted child reads again.
    Child(
        Arc<Incarnations<ChildServer>>,
        Box<ChildSpec>,
        #[allow(dead_code, reason = "held so its files outlive every restart")]
        Option<tempfile::TempDir>,
    ),
    /// A `serve` someone else started: read through its metrics endpoint when one was given
    /// (figures are deltas from the scrape taken before any client connected); never stopped.
    Remote {
        metrics: Option<(String, ServerSnapshot)>,
    },
    /// Someone else's broker: nothing to read server-side, nothing to stop.
    External,
    /// A program we did not write, started by the transport (nginx): its processes are read
    /// from `/proc`; its sockets are not ours to count.
    Program(Arc<Incarnations<T::Server>>, Arc<ProgramRestart<T>>),
}

/// What every server socket of a run gets: its options, and TLS when the run has it.
#[derive(Debug, Clone, Copy)]
pub struct ServerSockets<'a> {
    /// Socket options (`[socket]`).
    pub socket: SocketOptions,
    /// The run's TLS material (`None`: plaintext).
    pub tls: Option<&'a RunTls>,
}

impl ServerSockets<'_> {
    /// The server's TLS material, or bad input when the run has TLS but only a `ca` (enough to
    /// reach a server someone else runs, not to start one).
    fn server_tls(
        &self,
    ) -> anyhow::Result<
        Option<&(
            transport_core::tls::TlsServer,
            transport_core::tls::Material,
        )>,
    > {
        match self.tls {
            None => Ok(None),
            Some(RunTls {
                server: Some(s), ..
            }) => Ok(Some(s)),
            Some(_) => Err(BadInput::msg(
                "[tls] gives only `ca`, which reaches a server someone else runs, but this run \
                 starts its own: give `cert` and `key` too, or leave all three out for a \
                 throwaway certificate",
            )),
        }
    }
}

/// The started (or external) server of one run.
pub struct RunServer<T: Transport> {
    addr: String,
    reach: Reach<T>,
}

impl<T: Transport> RunServer<T> {
    /// Starts the server where `placement` says (or, when the options name one, uses the
    /// external server; or the `remote` one someone else runs), with its start bounded by
    /// `bound`.
    pub async fn start(
        config: &T::Config,
        options: Option<&toml::Table>,
        placement: &ServerPlacement,
        sockets: ServerSockets<'_>,
        counters: &Arc<Counters>,
        bound: Duration,
        remote: Option<&Remote>,
    ) -> anyhow::Result<RunServer<T>> {
        let socket = sockets.socket;
        if let Some(remote) = remote {
            return Self::reach_remote(remote).await;
        }
        if let Some(addr) = T::external_address(config) {
            return Ok(RunServer {
                addr,
                reach: Reach::External,
            });
        }
        if !T::server_kinds().contains(&ServerKind::InProcess) {
            let server = super::program::start::<T>(config, placement, socket, bound).await?;
            let addr = server.local_addr();
            let pid = server.program_pids().and_then(|p| p.first().copied());
            let how = ProgramRestart::<T> {
                config: config.clone(),
                socket,
                cpus: placement.cpus.clone(),
            };
            return Ok(RunServer {
                addr: addr.to_string(),
                reach: Reach::Program(Incarnations::new(server, pid, addr), Arc::new(how)),
            });
        }
        // A transport that is not registered (a test's own) cannot be started by `serve`.
        let kind = TransportKind::from_name(T::NAME);
        if let (ServerMode::Process, Some(kind)) = (placement.mode, kind) {
            return Self::start_child(kind, options, placement, sockets, bound).await;
        }
        let ctx = ServerContext {
            wire: WireStats::new(),
            counters: counters.clone(),
            socket,
            tls: sockets.server_tls()?.map(|(tls, _)| tls.fresh()),
        };
        let wire = ctx.wire.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let server = tokio::time::timeout(bound, T::serve(config, listener, ctx.clone()))
            .await
            .map_err(|_| anyhow::anyhow!("server start did not finish within {bound:?}"))??;
        let slot = ServerSlot::<T>::new(server, config.clone(), ctx);
        Ok(RunServer {
            addr: slot.addr().to_string(),
            reach: Reach::InProcess {
                slot,
                wire,
                counters: counters.clone(),
            },
        })
    }

    /// A remote server, with the baseline scrape its figures are counted from.
    async fn reach_remote(remote: &Remote) -> anyhow::Result<RunServer<T>> {
        let metrics = match &remote.metrics {
            Some(url) => {
                let baseline = scrape(url, SCRAPE_TIMEOUT).await.map_err(|e| {
                    anyhow::anyhow!("reading the remote {} server's metrics: {e}", T::NAME)
                })?;
                Some((url.clone(), baseline))
            }
            None => None,
        };
        Ok(RunServer {
            addr: remote.address.clone(),
            reach: Reach::Remote { metrics },
        })
    }

    /// Starts `transport-bench serve` as a child process with the scenario's options.
    async fn start_child(
        kind: TransportKind,
        options: Option<&toml::Table>,
        placement: &ServerPlacement,
        sockets: ServerSockets<'_>,
        bound: Duration,
    ) -> anyhow::Result<RunServer<T>> {
        let mut spec = ChildSpec::new(kind)?;
        spec.nodelay = sockets.socket.nodelay;
        // The child reads its certificate and key before it announces its address, so the
        // files may go once it has started.
        let material = match sockets.server_tls()? {
            Some((_, material)) => {
                let dir = tempfile::tempdir()?;
                let files = material.write_to(dir.path())?;
                spec.tls = Some((files.cert, files.key));
                Some(dir)
            }
            None => None,
        };
        spec.options = options.cloned().unwrap_or_default();
        spec.cpus = placement
            .cpus
            .as_ref()
            .map(|c| c.iter().map(|&c| c as usize).collect());
        spec.startup_timeout = bound;
        let child = ChildServer::start(&spec).await.map_err(|e| match e {
            ChildError::Cpus(_) => BadInput::msg(e),
            e => anyhow::Error::new(e).context("starting the server process"),
        })?;
        let (addr, pid) = (child.addr(), child.pid());
        Ok(RunServer {
            addr: addr.to_string(),
            reach: Reach::Child(
                Incarnations::new(child, Some(pid), addr),
                Box::new(spec),
                material,
            ),
        })
    }

    /// Why the server's process cannot be measured, or `None` when it can (a child process).
    pub fn unmeasured_reason(&self) -> Option<&'static str> {
        match &self.reach {
            Reach::Child(..) | Reach::Program(..) => None,
            Reach::InProcess { .. } => Some(
                "the server runs inside the load generator's process ([server] mode = \"in-process\")",
            ),
            Reach::Remote { metrics: Some(_) } => None,
            Reach::Remote { metrics: None } => Some(NO_METRICS),
            Reach::External => Some(EXTERNAL),
        }
    }

    /// The server's figures now, from one scrape: its process's (`None` unless it runs in a
    /// process of its own) and its occupancy (`None` where the server cannot be read: remote
    /// without an endpoint, external, or an endpoint that did not answer).
    pub async fn sample(&self) -> ServerSample {
        let snapshot = match &self.reach {
            Reach::Child(slot, ..) => {
                let guard = slot.current().lock().await;
                let snapshot = match guard.as_ref() {
                    Some(c) => c.snapshot(SCRAPE_TIMEOUT).await.ok(),
                    None => None,
                };
                let carried = slot.carried();
                snapshot.map(|mut s| {
                    s.process = s.process.map(|p| carried.stitch(p));
                    s
                })
            }
            Reach::Remote {
                metrics: Some((url, _)),
            } => scrape(url, SCRAPE_TIMEOUT).await.ok(),
            Reach::InProcess {
                wire,
                counters,
                slot,
            } => {
                let source = MetricsSource {
                    wire: wire.clone(),
                    counters: counters.clone(),
                    server_port: Some(slot.addr().port()),
                };
                // Reads /proc/net/tcp: off the async workers.
                tokio::task::spawn_blocking(move || source.transport_snapshot())
                    .await
                    .ok()
            }
            Reach::Program(slot, _) => {
                // A program we did not write: its processes' figures from /proc, no gauges;
                // the kernel's send queues of its connections by its port, as for our servers,
                // so what waits there for a slow reader is seen for nginx too.
                let guard = slot.current().lock().await;
                let carried = slot.carried();
                let process = guard
                    .as_ref()
                    .and_then(super::program::sample)
                    .map(|p| carried.stitch(p));
                let port = guard.as_ref().map(|s| s.local_addr().port());
                drop(guard);
                return ServerSample {
                    process,
                    gauges: BTreeMap::new(),
                    occupancy: Some(Occupancy {
                        send_queue_bytes: super::program::send_queue_bytes(port).await,
                        ..Occupancy::default()
                    }),
                    fresh: true,
                };
            }
            Reach::Remote { metrics: None } | Reach::External => None,
        };
        ServerSample {
            process: snapshot.as_ref().and_then(|s| s.process),
            gauges: snapshot
                .as_ref()
                .map(|s| s.gauges.clone())
                .unwrap_or_default(),
            occupancy: snapshot.as_ref().map(Occupancy::of),
            fresh: matches!(self.reach, Reach::InProcess { .. } | Reach::Child(..)),
        }
    }

    /// The address clients connect to (before any link emulator).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The server as a `server-restart` fault acts on it; `None` for a server we do not own.
    pub fn restartable(&self) -> Option<Restartable<T>> {
        match &self.reach {
            Reach::InProcess { slot, .. } => Some(Restartable::InProcess(slot.clone())),
            Reach::Child(slot, spec, _) => Some(Restartable::Child(slot.clone(), spec.clone())),
            Reach::Program(slot, how) => Some(Restartable::Program(slot.clone(), how.clone())),
            Reach::Remote { .. } | Reach::External => None,
        }
    }

    /// Each process the server ran as, when a restart replaced it (empty otherwise); the
    /// current one's figures are read now.
    pub async fn incarnations(&self) -> Vec<crate::results::resources::Incarnation> {
        let (carried, last) = match &self.reach {
            Reach::Child(slot, ..) => {
                let guard = slot.current().lock().await;
                let pid = guard.as_ref().map(ChildServer::pid);
                (
                    slot.carried(),
                    pid.and_then(|p| ProcessResources::of_pid(p).ok()),
                )
            }
            Reach::Program(slot, _) => {
                let guard = slot.current().lock().await;
                (
                    slot.carried(),
                    guard.as_ref().and_then(super::program::sample),
                )
            }
            _ => return Vec::new(),
        };
        if carried.restarted() {
            carried.incarnations(last)
        } else {
            Vec::new()
        }
    }

    /// Bytes and counters at the server, read before it stops (`None` bytes where they cannot
    /// be read: an external or remote server without an endpoint, see
    /// [`RunServer::unmeasured_reason`], or an endpoint that did not answer, which `failures`
    /// then says). A remote server's figures
    /// are what changed since the scrape before any client connected.
    pub async fn figures(&self, failures: &mut Failures) -> ServerFigures {
        let failed = |e: String, failures: &mut Failures| {
            failures.add(
                FailureKind::Server,
                format!("reading the server's figures: {e}"),
            );
            ServerFigures::default()
        };
        match &self.reach {
            Reach::InProcess { wire, .. } => ServerFigures {
                wire: Some(wire.snapshot()),
                ..ServerFigures::default()
            },
            Reach::Child(slot, ..) => {
                let guard = slot.current().lock().await;
                let Some(child) = guard.as_ref() else {
                    return ServerFigures::default();
                };
                // A restarted server's earlier incarnations took their byte counts with them:
                // the run's server-side bytes are then unavailable, not the last one's alone.
                let whole = !slot.carried().restarted();
                match child.snapshot(SCRAPE_TIMEOUT).await {
                    Ok(s) => ServerFigures {
                        wire: Some(s.wire).filter(|_| whole),
                        counters: s.counters,
                    },
                    Err(e) => failed(e.to_string(), failures),
                }
            }
            Reach::Remote {
                metrics: Some((url, baseline)),
            } => match scrape(url, SCRAPE_TIMEOUT).await {
                Ok(now) => {
                    let delta = now.delta_since(baseline);
                    ServerFigures {
                        wire: Some(delta.wire),
                        counters: delta.counters,
                    }
                }
                Err(e) => failed(e.to_string(), failures),
            },
            // A program's sockets are not ours: no count here (the run puts the mirror of its
            // clients' counts in their place); unavailable otherwise, not zero.
            Reach::Remote { metrics: None } | Reach::External | Reach::Program(..) => {
                ServerFigures::default()
            }
        }
    }

    /// Shuts the server down within `bound`; problems are added to `failures`.
    pub async fn shutdown(&self, bound: Duration, failures: &mut Failures) {
        match &self.reach {
            Reach::InProcess { slot, .. } => match tokio::time::timeout(bound, slot.shutdown())
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.add(FailureKind::Server, format!("server shutdown: {e}")),
                Err(_) => failures.add(
                    FailureKind::Server,
                    format!("server shutdown did not finish within {bound:?}"),
                ),
            },
            Reach::Child(slot, ..) => {
                let Some(child) = slot.current().lock().await.take() else {
                    return;
                };
                match child.shutdown(bound).await {
                    Ok(stopped) if stopped.forced => failures.add(
                        FailureKind::Server,
                        format!(
                            "server process did not stop within {bound:?} of SIGTERM and was killed"
                        ),
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        failures.add(FailureKind::Server, format!("server process shutdown: {e}"))
                    }
                }
            }
            Reach::Program(slot, _) => {
                let Some(server) = slot.current().lock().await.take() else {
                    return;
                };
                match tokio::time::timeout(bound, server.shutdown()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failures.add(FailureKind::Server, format!("server stop: {e}")),
                    Err(_) => failures.add(
                        FailureKind::Server,
                        format!("server stop did not finish within {bound:?}"),
                    ),
                }
            }
            // Someone else's server outlives the run.
            Reach::Remote { .. } | Reach::External => {}
        }
    }
}
