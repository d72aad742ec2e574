//! The `shard` and `merge` records of `summary.json`: which share of a scenario a results
//! folder holds (written by `run --shard I/N`), and which shards a merged folder was built from
//! (written by `merge`).

use serde::{Deserialize, Serialize};

use super::environment::Environment;

/// What `run --shard I/N` (or `--start-at`) ran: top-level `shard` in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// This shard's index, below `count`.
    pub index: u32,
    /// How many shards the scenario was split into.
    pub count: u32,
    /// Host name of the machine that ran this shard.
    pub host: String,
    /// The split rule, in words.
    pub rule: String,
    /// Whether the runner ran only this shard's share. False means every client of the scenario
    /// ran here, and a merge adds whole runs.
    pub applied: bool,
    /// The topic ids this shard owns.
    pub topics: Vec<u32>,
    /// The share per run of the matrix.
    pub share: Vec<ShareOfRun>,
    /// The instant all shards were asked to start warm-up at (RFC 3339 UTC), if given.
    pub start_at: Option<String>,
    /// How far past `start_at` this host's clock was when warm-up began, ns; null when no
    /// instant was given or the runner did not measure it.
    pub clock_offset_ns: Option<i64>,
}

/// One run's share: how many of its clients this shard runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareOfRun {
    /// The run's name (sorted tags).
    pub run: String,
    /// Publishers of the owned topics.
    pub publishers: u32,
    /// Subscribers of the owned topics.
    pub subscribers: u32,
    /// Publishers in the whole scenario.
    pub publishers_total: u32,
    /// Subscribers in the whole run.
    pub subscribers_total: u32,
}

/// Which shards a merged folder holds: top-level `merge` in `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeRecord {
    /// Number of shards merged (indices 0..count, each once).
    pub count: u32,
    /// Figures that are bounds rather than exact, because some shard did not persist the
    /// histogram behind them: `runs[].<field>` names; empty when everything is exact.
    pub bounds: Vec<String>,
    /// The shards, by index.
    pub shards: Vec<MergedShard>,
}

/// One merged shard: where it came from and what it measured on its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedShard {
    /// The results folder it was read from, as given.
    pub dir: String,
    /// Its shard record.
    pub shard: ShardRecord,
    /// Its environment (machine, build, runtime).
    pub environment: Environment,
    /// Its own figures per run, so the audit stays attributable to the host that made it.
    pub runs: Vec<ShardRun>,
}

/// One run as a single shard measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRun {
    /// The run's name.
    pub name: String,
    /// Its repetition index.
    pub repetition: u32,
    /// "ok" or "failed".
    pub status: super::run::RunStatus,
    /// Messages published.
    pub published: u64,
    /// Unique messages delivered.
    pub delivered: u64,
    /// Lost messages (audit of this shard's pairs).
    pub lost: u64,
    /// Duplicate copies.
    pub duplicated: u64,
    /// Reordered messages.
    pub reordered: u64,
    /// Latency p99 from intended send, ns.
    pub latency_p99_ns: u64,
    /// Start of its interval log (RFC 3339 UTC), the wall-clock anchor used to align its
    /// timeseries; null when unreadable.
    pub interval_log_start: Option<String>,
    /// What this shard's run cost its server and its load generator, on its own host.
    #[serde(default)]
    pub resources: super::resources::Resources,
}
