//! The fourth way to have a run's server: a program we did not write (nginx with Nchan today),
//! which the transport's `serve` starts as a managed process group (`transport_program`). The
//! runner owns its lifecycle like a child `serve`: started before clients connect, sampled
//! from `/proc` (every process of it summed: nginx's master plus workers), stopped at the end.
//! Its sockets are not ours to count, so its server-side wire bytes are the mirror of the
//! clients' (`results::wire::counted_or_mirrored`); its CPU and memory fill `resources.server`
//! as a child's do.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, SocketOptions, Transport, TransportError};

use super::ctx::Remote;
use crate::exit::BadInput;
use crate::registry::{TransportKind, Visit};
use crate::scenario::{RunSpec, Scenario, ServerMode, ServerPlacement};
use crate::server::resources::ProcessResources;

/// Before any run starts: every transport of `scenario` whose server is a program must be
/// startable here (exit 2 otherwise): not asked to run in-process, and installed, with every
/// table its runs use (a sweep may name the program). Transports reached at a `remote`
/// address start nothing and are not checked.
pub fn preflight(
    scenario: &Scenario,
    remote: &BTreeMap<TransportKind, Remote>,
) -> anyhow::Result<()> {
    struct Check<'a>(&'a Scenario, &'a RunSpec);
    impl Visit for Check<'_> {
        type Output = anyhow::Result<()>;
        fn visit<T: Transport>(self) -> anyhow::Result<()> {
            if T::server_kinds().contains(&transport_core::ServerKind::InProcess) {
                return Ok(());
            }
            in_process_refused::<T>(&self.0.server)?;
            let config = super::ctx::config_for::<T>(self.0, self.1)?;
            T::preflight(&config).map_err(|e| BadInput::msg(format!("{}: {e}", T::NAME)))
        }
    }
    let specs = scenario.expand();
    let mut checked: Vec<(TransportKind, &BTreeMap<String, toml::Value>)> = Vec::new();
    for spec in &specs {
        let key = (spec.transport, &spec.options);
        if !remote.contains_key(&spec.transport) && !checked.contains(&key) {
            checked.push(key);
            spec.transport.visit(Check(scenario, spec))?;
        }
    }
    Ok(())
}

/// A program server cannot run inside the load generator: bad input when a scenario asks.
fn in_process_refused<T: Transport>(placement: &ServerPlacement) -> anyhow::Result<()> {
    if placement.mode == ServerMode::InProcess {
        return Err(BadInput::msg(format!(
            "{} cannot use [server] mode = \"in-process\": its server is a program the runner \
             starts (nginx, redis-server, mosquitto), not code inside the load generator; use mode = \"process\" (the \
             default), or `address` / --server for one already running",
            T::NAME
        )));
    }
    Ok(())
}

/// Starts `T`'s program server on a fresh loopback port within `bound`. A scenario asking for
/// an in-process server, or a missing program, is bad input (exit 2).
pub async fn start<T: Transport>(
    config: &T::Config,
    placement: &ServerPlacement,
    socket: SocketOptions,
    bound: Duration,
) -> anyhow::Result<T::Server> {
    in_process_refused::<T>(placement)?;
    let ctx = ServerContext {
        socket,
        ..ServerContext::fresh()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let started = tokio::time::timeout(bound, T::serve(config, listener, ctx))
        .await
        .map_err(|_| anyhow::anyhow!("{} server start did not finish within {bound:?}", T::NAME))?;
    let server = started.map_err(|e| match e {
        e @ (TransportError::MissingProgram { .. } | TransportError::Config(_)) => {
            BadInput::msg(format!("{}: {e}", T::NAME))
        }
        e => anyhow::Error::new(e).context(format!("starting the {} server", T::NAME)),
    })?;
    if let Some(cpus) = &placement.cpus {
        pin(&server, cpus).map_err(BadInput::msg)?;
    }
    Ok(server)
}

/// Pins every process of the program to `cpus` (`[server] cpus`): set after start, since the
/// program forks its workers itself.
pub(crate) fn pin<S: ServerHandle>(server: &S, cpus: &[u32]) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    for &c in cpus {
        set.set(c as usize)
            .map_err(|e| format!("server cpus: CPU {c}: {e}"))?;
    }
    for pid in server.program_pids().unwrap_or_default() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        nix::sched::sched_setaffinity(pid, &set)
            .map_err(|e| format!("server cpus {cpus:?}: pinning pid {pid}: {e}"))?;
    }
    Ok(())
}

/// The program's figures now: the sum over its live processes (`None` when none could be
/// read). CPU seconds add exactly; resident memory adds pages shared between master and
/// workers twice, so the sum is an upper bound, as `ps` would give it.
pub fn sample<S: ServerHandle>(server: &S) -> Option<ProcessResources> {
    let readings: Vec<ProcessResources> = server
        .program_pids()?
        .into_iter()
        .filter_map(|pid| ProcessResources::of_pid(pid).ok())
        .collect();
    let first = *readings.first()?;
    Some(readings[1..].iter().fold(first, |a, b| ProcessResources {
        cpu_user_s: a.cpu_user_s + b.cpu_user_s,
        cpu_system_s: a.cpu_system_s + b.cpu_system_s,
        rss_bytes: a.rss_bytes + b.rss_bytes,
        rss_peak_bytes: a.rss_peak_bytes + b.rss_peak_bytes,
        threads: a.threads + b.threads,
        open_fds: a.open_fds + b.open_fds,
        open_sockets: a.open_sockets + b.open_sockets,
    }))
}

/// Bytes in the kernel's send queues of the connections on a program server's `port` (read
/// from `/proc/net/tcp` off the async workers); unavailable without a port or the table.
pub async fn send_queue_bytes(port: Option<u16>) -> Option<u64> {
    let port = port?;
    tokio::task::spawn_blocking(move || transport_core::sendq::send_queue_bytes(port).ok())
        .await
        .ok()
        .flatten()
}
