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

use super::environment::Environment;

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
