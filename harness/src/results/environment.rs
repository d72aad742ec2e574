//! Where a result came from: enough about the machine, build and runtime that two results can
//! be judged comparable or not. The types are recorded in both `summary.json` and a shard's
//! record, so they live here, below both.

use std::process::Command;

use serde::{Deserialize, Serialize};
use transport_core::SocketOptions;

/// The machine and software a result came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    /// transport-bench version.
    pub tool_version: String,
    /// `git rev-parse HEAD` of the working tree, if available ("unknown" otherwise), with
    /// `-dirty` appended when there were uncommitted changes.
    pub git_commit: String,
    /// `rustc --version` at build time.
    pub rustc: String,
    /// Build profile ("release" or "debug"): debug numbers are not comparable.
    pub profile: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs available.
    pub cpu_count: usize,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Operating system and architecture.
    pub os: String,
    /// Host name.
    pub hostname: String,
    /// Tokio runtime flavour (`multi-thread` or `current-thread`).
    pub runtime_flavor: String,
    /// Runtime worker threads.
    pub worker_threads: usize,
    /// Socket options applied to every socket.
    pub socket: SocketOptions,
    /// When the scenario started, UTC, RFC 3339.
    pub started_at: String,
    /// Where the server and the load generator ran (absent in results from before placement
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// What TLS negotiated, when any run used it (the first such run's clients: every run of
    /// a scenario uses the same configuration). Absent when every run was plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<transport_core::tls::Negotiated>,
}

/// Where a scenario's server and load generator ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `process` (a child process per run), `in-process` (on the load generator's runtime) or
    /// `remote` (started by the user).
    pub server_mode: String,
    /// CPUs the server was pinned to; `None` when the scheduler chose.
    pub server_cpus: Option<Vec<u32>>,
    /// CPUs the load generator was pinned to; `None` when the scheduler chose.
    pub load_cpus: Option<Vec<u32>>,
    /// Servers someone else ran, by transport name (`run --server`, `[transport.<name>]
    /// address`); absent when every server was started here.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub remote_servers: std::collections::BTreeMap<String, RemoteServer>,
}

/// A server the run reached instead of starting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteServer {
    /// `HOST:PORT` its clients connected to.
    pub address: String,
    /// The metrics endpoint its figures were read from; null when none was given.
    pub metrics: Option<String>,
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn git_commit() -> String {
    let Some(head) = command_output("git", &["rev-parse", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// This machine's host name ("unknown" when `hostname` cannot be run).
pub fn hostname() -> String {
    command_output("hostname", &[]).unwrap_or_else(|| "unknown".into())
}

/// Collects the environment for a run on a runtime of `worker_threads` threads.
pub fn collect(
    runtime_flavor: &str,
    worker_threads: usize,
    socket: SocketOptions,
    started_at: String,
) -> Environment {
    Environment {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        rustc: option_env!("TB_RUSTC_VERSION").unwrap_or("unknown").into(),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        cpu_model: cpu_model(),
        // The machine's CPUs, not this process's affinity: a pinned load generator still ran
        // on a machine of this size.
        cpu_count: crate::affinity::online().len(),
        kernel: command_output("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
        os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        hostname: hostname(),
        runtime_flavor: runtime_flavor.into(),
        worker_threads,
        socket,
        started_at,
        placement: None,
        tls: None,
    }
}
