//! A `transport-bench serve` child process that the harness owns: the server of a run in process
//! mode (issue 13), a "remote server on localhost that we started".
//!
//! Ownership means no orphan survives the harness. The child is spawned with `kill_on_drop`
//! (dropping the owner, also by a panic, sends SIGKILL) and with a parent-death signal (SIGKILL
//! when the harness dies, even by `kill -9`). [`ChildServer::shutdown`] sends SIGTERM, waits a
//! bounded time, then SIGKILLs. Startup reads the two address lines `serve` prints within a
//! deadline; after that the child's stdout and stderr keep being drained so it never blocks on a
//! full pipe, and the last stderr lines are kept for error messages.
//!
//! The parent-death signal is tied to the *thread* that spawned the child: call
//! [`ChildServer::start`] from a thread that lives as long as the child (the main thread or a
//! runtime worker), never from `spawn_blocking`, whose idle threads exit.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::os::{self, CpuSet};
use super::scrape::{ScrapeError, scrape};
use super::snapshot::ServerSnapshot;
use crate::registry::TransportKind;

/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

/// How to start a child server.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The `transport-bench` binary to run (default: this executable).
    pub exe: PathBuf,
    /// The transport to serve.
    pub transport: TransportKind,
    /// The transport's effective options, passed as `--set key=value` (values in TOML syntax).
    pub options: toml::Table,
    /// CPUs the child may run on (`[server] cpus`), set before it starts serving.
    pub cpus: Option<Vec<usize>>,
    /// Deadline for the child to print both of its addresses.
    pub startup_timeout: Duration,
    /// `TCP_NODELAY` on the child's accepted connections (`[socket] nodelay`).
    pub nodelay: bool,
    /// Where it listens (port 0: a free one); a restarted child keeps its predecessor's.
    pub bind: SocketAddr,
    /// TLS on every accepted connection: the certificate chain and key PEM files
    /// (`--tls-cert`, `--tls-key`).
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl ChildSpec {
    /// A spec for `transport` with default options, run from this executable.
    pub fn new(transport: TransportKind) -> std::io::Result<ChildSpec> {
        Ok(ChildSpec {
            exe: std::env::current_exe()?,
            transport,
            options: toml::Table::new(),
            cpus: None,
            startup_timeout: Duration::from_secs(30),
            nodelay: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
        })
    }

    /// The command-line arguments after the executable.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "serve".to_owned(),
            "--transport".to_owned(),
            self.transport.name().to_owned(),
            "--bind".to_owned(),
            self.bind.to_string(),
            "--metrics".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--nodelay".to_owned(),
            self.nodelay.to_string(),
        ];
        if let Some((cert, key)) = &self.tls {
            args.push("--tls-cert".to_owned());
            args.push(cert.display().to_string());
            args.push("--tls-key".to_owned());
            args.push(key.display().to_string());
        }
        for (k, v) in &self.options {
            args.push("--set".to_owned());
            args.push(format!("{k}={v}"));
        }
        args
    }
}

/// Why a child server could not be started or stopped. Messages carry the child's last stderr
/// lines, where its own error is.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// A `cpus` entry this process cannot use (bad input).
    #[error("server cpus: {0}")]
    Cpus(String),
    /// The executable could not be started.
    #[error("starting {exe}: {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The child did not announce its addresses.
    #[error("{transport} server did not start: {reason}{}", stderr_suffix(.stderr))]
    Startup {
        /// The transport.
        transport: TransportKind,
        /// What went wrong (exited, timed out, unexpected output).
        reason: String,
        /// The child's last stderr lines.
        stderr: Vec<String>,
    },
    /// Signalling or waiting for the child failed.
    #[error("stopping the server (pid {pid}): {source}")]
    Stop {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        source: std::io::Error,
    },
}

fn stderr_suffix(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends:\n  {}", lines.join("\n  "))
    }
}

/// How a child server ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether it ignored SIGTERM for the whole grace period and had to be killed.
    pub forced: bool,
}

/// A running child server. Dropping it kills the child.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    pid: u32,
    transport: TransportKind,
    addr: SocketAddr,
    metrics_url: String,
    drains: Vec<JoinHandle<()>>,
}

/// How long a SIGKILLed child may take to be reaped before we give up waiting.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl ChildServer {
    /// Spawns `serve` as in [`ChildSpec::args`] and returns once it has printed both addresses
    /// (within `spec.startup_timeout`). On failure the child is killed and reaped.
    pub async fn start(spec: &ChildSpec) -> Result<ChildServer, ChildError> {
        let cpus = spec.cpus.as_deref().map(CpuSet::new).transpose();
        let cpus = cpus.map_err(ChildError::Cpus)?;
        let mut cmd = Command::new(&spec.exe);
        cmd.args(spec.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        os::own_child_before_exec(&mut cmd, cpus);
        let spawn_err = |source| ChildError::Spawn {
            exe: spec.exe.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let pid = child.id().unwrap_or_default();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut drains = Vec::new();
        if let Some(err) = child.stderr.take() {
            drains.push(tokio::spawn(keep_tail(err, stderr.clone())));
        }
        let Some(out) = child.stdout.take() else {
            return Err(spawn_err(std::io::Error::other("no stdout pipe")));
        };
        let mut lines = BufReader::new(out).lines();
        let announced = tokio::time::timeout(
            spec.startup_timeout,
            read_addresses(&mut lines, spec.transport),
        )
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no addresses printed within {:?}",
                spec.startup_timeout
            ))
        });
        let (addr, metrics_url) = match announced {
            Ok(a) => a,
            Err(reason) => {
                let failed = startup_failed(child, reason, drains).await;
                return Err(ChildError::Startup {
                    transport: spec.transport,
                    reason: failed,
                    stderr: tail(&stderr),
                });
            }
        };
        // Keep reading stdout so the child never blocks on a full pipe.
        drains.push(tokio::spawn(async move {
            while let Ok(Some(_)) = lines.next_line().await {}
        }));
        Ok(ChildServer {
            child,
            pid,
            transport: spec.transport,
            addr,
            metrics_url,
            drains,
        })
    }

    /// The transport server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics URL, `http://ADDR/metrics`.
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The transport it serves.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// Scrapes its metrics endpoint once.
    pub async fn snapshot(&self, timeout: Duration) -> Result<ServerSnapshot, ScrapeError> {
        scrape(&self.metrics_url, timeout).await
    }

    /// A probe reading this child's metrics endpoint, each scrape bounded by `timeout`.
    pub fn probe(&self, timeout: Duration) -> super::probe::ServerProbe {
        super::probe::ServerProbe::Metrics {
            url: self.metrics_url.clone(),
            timeout,
        }
    }

    /// Kills the child at once (SIGKILL, as a crash would end it) and reaps it.
    pub async fn kill(mut self) -> Result<Stopped, ChildError> {
        let pid = self.pid;
        let stop_err = |source| ChildError::Stop { pid, source };
        self.child.start_kill().map_err(stop_err)?;
        let status = tokio::time::timeout(KILL_WAIT, self.child.wait())
            .await
            .map_err(|_| stop_err(std::io::ErrorKind::TimedOut.into()))?
            .map_err(stop_err)?;
        for d in self.drains.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), d).await;
        }
        Ok(Stopped {
            status,
            forced: true,
        })
    }

    /// Stops the child: SIGTERM, up to `grace` for it to exit, then SIGKILL. Always reaps it.
    pub async fn shutdown(mut self, grace: Duration) -> Result<Stopped, ChildError> {
        let pid = self.pid;
        let stop_err = |source| ChildError::Stop { pid, source };
        // `id()` is None once the child was reaped: its pid may belong to someone else by now.
        if self.child.id().is_some() {
            os::terminate(pid).map_err(stop_err)?;
        }
        let (status, forced) = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => (status.map_err(stop_err)?, false),
            Err(_) => {
                self.child.start_kill().map_err(stop_err)?;
                let status = tokio::time::timeout(KILL_WAIT, self.child.wait())
                    .await
                    .map_err(|_| stop_err(std::io::ErrorKind::TimedOut.into()))?
                    .map_err(stop_err)?;
                (status, true)
            }
        };
        // The pipes are closed now, so the drains finish; bounded all the same.
        for d in self.drains.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), d).await;
        }
        Ok(Stopped { status, forced })
    }
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Result<String, String> {
    match lines.next_line().await {
        Ok(Some(line)) => Ok(line),
        Ok(None) => Err("it exited before printing its addresses".into()),
        Err(e) => Err(format!("reading its output: {e}")),
    }
}

/// Reads `NAME listening on ADDR` then `metrics on URL`, the two lines `serve` prints.
async fn read_addresses(
    lines: &mut Lines<BufReader<ChildStdout>>,
    transport: TransportKind,
) -> Result<(SocketAddr, String), String> {
    let first = next_line(lines).await?;
    let prefix = format!("{} listening on ", transport.name());
    let addr = first
        .strip_prefix(&prefix)
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| format!("expected `{prefix}ADDR`, got `{first}`"))?;
    let second = next_line(lines).await?;
    let url = second
        .strip_prefix("metrics on ")
        .ok_or_else(|| format!("expected `metrics on URL`, got `{second}`"))?
        .trim();
    super::scrape::parse_url(url).map_err(|e| e.to_string())?;
    Ok((addr, url.to_owned()))
}

/// Kills and reaps a child that failed to start, lets the drains read its last output, and
/// returns the reason with its exit status.
async fn startup_failed(mut child: Child, reason: String, drains: Vec<JoinHandle<()>>) -> String {
    let _ = child.start_kill();
    let status = tokio::time::timeout(KILL_WAIT, child.wait()).await;
    // Its pipes are closed now, so the drains reach the end of its output.
    for d in drains {
        let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
    }
    match status {
        Ok(Ok(s)) if s.code().is_some() => format!("{reason} (exit status {s})"),
        _ => reason,
    }
}

fn tail(lines: &Mutex<VecDeque<String>>) -> Vec<String> {
    let lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
    lines.iter().cloned().collect()
}

/// Reads `from` to its end, keeping the last [`STDERR_TAIL_LINES`] lines.
async fn keep_tail(from: impl AsyncRead + Unpin, into: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut t = into.lock().unwrap_or_else(PoisonError::into_inner);
        if t.len() == STDERR_TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ChildSpec;
    use crate::cli::{Cli, Command};
    use crate::registry::TransportKind;

    /// The scenario's `[socket] nodelay` reaches the child as an argument `serve` accepts.
    #[test]
    fn nodelay_off_is_passed_to_serve_and_parsed() {
        let mut spec = ChildSpec::new(TransportKind::from_name("raw-tcp").unwrap()).unwrap();
        spec.nodelay = false;
        let args = spec.args();
        let cli =
            Cli::try_parse_from(std::iter::once("transport-bench".to_owned()).chain(args)).unwrap();
        let Command::Serve(serve) = cli.command else {
            panic!("not parsed as serve");
        };
        assert!(!serve.nodelay);
        let default = ChildSpec::new(TransportKind::from_name("raw-tcp").unwrap()).unwrap();
        assert!(
            default
                .args()
                .windows(2)
                .any(|w| w == ["--nodelay", "true"])
        );
    }
}
