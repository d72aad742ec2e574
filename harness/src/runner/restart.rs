//! A `server-restart` fault for a server in its own process: our `serve` child or a program we
//! did not write (nginx + Nchan). The old process is killed (a crash) or terminated (a graceful
//! stop), the port stays free for the fault's `duration`, and a new process is started on the
//! same address with the same options, so clients reconnect where they were.
//!
//! Each process is one *incarnation*. Its figures are read from `/proc` just before it is
//! stopped and carried into the later samples ([`Carried::stitch`]): CPU seconds add up and
//! the resident peak is the highest of any, so the run's server figures cover every
//! incarnation, and `resources.server.incarnations` lists each one's own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Mutex;
use transport_core::{ServerContext, ServerHandle, SocketOptions, Transport};

use crate::link::{LinkProxy, RestartSignal, ServerSlot};
use crate::results::resources::Incarnation;
use crate::server::child::{ChildServer, ChildSpec};
use crate::server::resources::ProcessResources;

/// A server a `server-restart` fault can act on, however the run has it.
pub enum Restartable<T: Transport> {
    /// Ours, on the load generator's runtime: shut down and started again.
    InProcess(Arc<ServerSlot<T>>),
    /// A `serve` child: killed or terminated, then started again on its port.
    Child(Arc<Incarnations<ChildServer>>, Box<ChildSpec>),
    /// A program we did not write: every process of it signalled, then started again.
    Program(Arc<Incarnations<T::Server>>, Arc<ProgramRestart<T>>),
}

impl<T: Transport> Restartable<T> {
    /// Stops the server with `signal`, calls `stopped` once it is gone, waits `down`, starts
    /// it again on the same address.
    pub async fn restart(
        &self,
        (signal, down): (RestartSignal, Duration),
        proxy: Option<&LinkProxy>,
        stopped: impl FnOnce(),
    ) -> Result<(), String> {
        match self {
            Restartable::InProcess(slot) => slot.restart(down, proxy, stopped).await,
            Restartable::Child(slot, spec) => {
                restart_child(slot, spec, (signal, down), stopped).await
            }
            Restartable::Program(slot, how) => {
                restart_program::<T>(slot, how, (signal, down), stopped).await
            }
        }
    }
}

/// How long a restarted server may take to come up, port retries included.
const RESTART_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a terminated server may take to stop before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// What the incarnations before the current one leave to the server's figures.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    cpu_user_s: f64,
    cpu_system_s: f64,
    rss_peak_bytes: u64,
    /// Every incarnation so far, the current one last (its figures filled at the end).
    incarnations: Vec<Incarnation>,
}

impl Carried {
    /// A sample of the current incarnation as a sample of the whole run: CPU of the dead
    /// incarnations added, resident peak the highest of any.
    pub fn stitch(&self, p: ProcessResources) -> ProcessResources {
        ProcessResources {
            cpu_user_s: p.cpu_user_s + self.cpu_user_s,
            cpu_system_s: p.cpu_system_s + self.cpu_system_s,
            rss_peak_bytes: p.rss_peak_bytes.max(self.rss_peak_bytes),
            ..p
        }
    }

    /// Whether the server has been restarted (its sockets' byte counts died with it).
    pub fn restarted(&self) -> bool {
        self.incarnations.len() > 1
    }

    /// Every incarnation, the current one closed with `last` (its final reading).
    pub fn incarnations(&self, last: Option<ProcessResources>) -> Vec<Incarnation> {
        let mut all = self.incarnations.clone();
        if let Some(cur) = all.last_mut() {
            cur.close(last.map(reading_of), None);
        }
        all
    }

    fn begin(&mut self, pid: Option<u32>, started: Instant, run_start: Instant) {
        self.incarnations.push(Incarnation::new(
            pid,
            started.saturating_duration_since(run_start),
        ));
    }

    /// Closes the current incarnation with its final reading and the signal that ended it.
    fn end(&mut self, last: Option<ProcessResources>, signal: RestartSignal) {
        if let Some(p) = last {
            self.cpu_user_s += p.cpu_user_s;
            self.cpu_system_s += p.cpu_system_s;
            self.rss_peak_bytes = self.rss_peak_bytes.max(p.rss_peak_bytes);
        }
        if let Some(cur) = self.incarnations.last_mut() {
            cur.close(last.map(reading_of), Some(signal));
        }
    }
}

/// An incarnation's own figures from its last reading: CPU seconds and resident peak.
fn reading_of(p: ProcessResources) -> (f64, u64) {
    (p.cpu_total_s(), p.rss_peak_bytes)
}

/// A server the runner can restart in place, and what its dead incarnations left behind.
pub struct Incarnations<S> {
    current: Mutex<Option<S>>,
    carried: SyncMutex<Carried>,
    addr: SocketAddr,
    run_start: Instant,
}

impl<S> Incarnations<S> {
    /// Holds the first incarnation, `pid` its process (if it has one), listening on `addr`.
    pub fn new(first: S, pid: Option<u32>, addr: SocketAddr) -> Arc<Self> {
        let run_start = Instant::now();
        let mut carried = Carried::default();
        carried.begin(pid, run_start, run_start);
        Arc::new(Incarnations {
            current: Mutex::new(Some(first)),
            carried: SyncMutex::new(carried),
            addr,
            run_start,
        })
    }

    /// The current incarnation (`None` while the server is down or after it stopped).
    pub fn current(&self) -> &Mutex<Option<S>> {
        &self.current
    }

    /// What the dead incarnations left.
    pub fn carried(&self) -> Carried {
        self.carried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn carry(&self, f: impl FnOnce(&mut Carried)) {
        f(&mut self.carried.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Stops `old` (read from `/proc` first as its final figures), waits `down`, then starts the
/// next incarnation with `start`, retrying while the port is still held, within
/// [`RESTART_TIMEOUT`]. `stopped` is called once the old process is gone.
async fn cycle<S, F, Fut>(
    slot: &Incarnations<S>,
    (signal, down): (RestartSignal, Duration),
    stop: impl AsyncFnOnce(S, RestartSignal) -> Result<(), String>,
    final_reading: impl Fn(&S) -> Option<ProcessResources>,
    stopped: impl FnOnce(),
    start: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(S, Option<u32>), String>>,
{
    let old = slot.current.lock().await.take();
    let result = match old {
        Some(old) => {
            let last = final_reading(&old);
            let r = stop(old, signal).await;
            slot.carry(|c| c.end(last, signal));
            r
        }
        None => Ok(()),
    };
    stopped();
    result?;
    tokio::time::sleep(down).await;
    let deadline = Instant::now() + RESTART_TIMEOUT;
    let (server, pid) = loop {
        match start().await {
            Ok(started) => break started,
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("restarting the server: {e}"));
            }
            // The old process's listener may take a moment to be released.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    slot.carry(|c| c.begin(pid, Instant::now(), slot.run_start));
    *slot.current.lock().await = Some(server);
    Ok(())
}

/// Restarts a `serve` child on the same address.
pub async fn restart_child(
    slot: &Incarnations<ChildServer>,
    spec: &ChildSpec,
    (signal, down): (RestartSignal, Duration),
    stopped: impl FnOnce(),
) -> Result<(), String> {
    let spec = ChildSpec {
        bind: slot.addr,
        ..spec.clone()
    };
    let stop = async |child: ChildServer, signal| {
        match signal {
            RestartSignal::Kill => child.kill().await,
            RestartSignal::Term => child.shutdown(TERM_GRACE).await,
        }
        .map(drop)
        .map_err(|e| e.to_string())
    };
    let start = || async {
        let child = ChildServer::start(&spec).await.map_err(|e| e.to_string())?;
        let pid = child.pid();
        Ok((child, Some(pid)))
    };
    let reading = |c: &ChildServer| ProcessResources::of_pid(c.pid()).ok();
    cycle(slot, (signal, down), stop, reading, stopped, start).await
}

/// How a program server (nginx + Nchan) is started again: its options and placement.
pub struct ProgramRestart<T: Transport> {
    /// The transport's options.
    pub config: T::Config,
    /// Socket options for its accepted connections.
    pub socket: SocketOptions,
    /// `[server] cpus`, applied to every process of the new incarnation.
    pub cpus: Option<Vec<u32>>,
}

/// Restarts a program server on the same address: every process of it gets the signal.
pub async fn restart_program<T: Transport>(
    slot: &Incarnations<T::Server>,
    how: &ProgramRestart<T>,
    (signal, down): (RestartSignal, Duration),
    stopped: impl FnOnce(),
) -> Result<(), String> {
    let stop = async |server: T::Server, signal| {
        if signal == RestartSignal::Kill {
            signal_all(&server, nix::sys::signal::Signal::SIGKILL);
        }
        tokio::time::timeout(TERM_GRACE, server.shutdown())
            .await
            .map_err(|_| "the program did not stop in time".to_owned())?
            .map_err(|e| e.to_string())
    };
    let start = || async {
        let listener = TcpListener::bind(slot.addr)
            .await
            .map_err(|e| format!("binding {}: {e}", slot.addr))?;
        let ctx = ServerContext {
            socket: how.socket,
            ..ServerContext::fresh()
        };
        let server = T::serve(&how.config, listener, ctx)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(cpus) = &how.cpus {
            super::program::pin(&server, cpus)?;
        }
        let pid = server.program_pids().and_then(|p| p.first().copied());
        Ok((server, pid))
    };
    let reading = |s: &T::Server| super::program::sample(s);
    cycle(slot, (signal, down), stop, reading, stopped, start).await
}

/// Sends `sig` to every process of a program (a crash of master and workers alike).
fn signal_all<S: ServerHandle>(server: &S, sig: nix::sys::signal::Signal) {
    for pid in server.program_pids().unwrap_or_default() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}
