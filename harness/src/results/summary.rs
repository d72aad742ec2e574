//! `summary.json`: the results contract other tools (charts, compare, external checks) rely on.
//!
//! Versioned by [`SCHEMA_VERSION`] and described by `harness/schema/summary.schema.json`; a
//! test validates real output against that schema. Fields may be added; the ones named in the
//! core issue (`schema_version`, `scenario`, `environment`, `runs[]` with `transport`, `tags`,
//! `offered_rate`, `published`, `delivered`, `lost`, `duplicated`, `reordered`, `saturated`,
//! `throughput`, `latency_ns`, `wire`, `counters`) are never renamed.

use serde::{Deserialize, Serialize};

pub use super::browser::BrowserResult;
pub use super::cost::IdleCost;
pub use super::faults::FaultResult;
pub use super::latency::{IntervalPoint, Percentiles, QuantilePoint, Throughput};
pub use super::run::{RunFiles, RunResult, RunStatus};
pub use super::wire::Wire;

/// Version of this layout; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Which scenario ran, with every default filled in.
    pub scenario: ScenarioInfo,
    /// Where it ran.
    pub environment: Environment,
    /// One entry per cell of the run matrix, in the order they ran.
    pub runs: Vec<RunResult>,
    /// The share of the scenario this folder holds, when run with `--shard` or `--start-at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shards::ShardRecord>,
    /// The shards this folder was merged from, when written by `merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<super::shards::MergeRecord>,
}

/// The scenario as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Scenario name.
    pub name: String,
    /// What it is meant to show.
    pub description: String,
    /// The file it was loaded from.
    pub file: String,
    /// The effective scenario after defaults and command-line overrides, including each
    /// transport's effective options.
    pub effective: serde_json::Value,
}

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
    pub socket: transport_core::SocketOptions,
    /// When the scenario started, UTC, RFC 3339.
    pub started_at: String,
    /// Where the server and the load generator ran (absent in results from before placement
    /// was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
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
