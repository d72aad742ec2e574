//! `run --shard I/N` and `run --start-at T`: validated against the loaded scenario, and turned
//! into the `shard` record of `summary.json`.

use super::args::RunArgs;
use crate::exit::BadInput;
use crate::results::environment;
use crate::results::shards::{ShardRecord, ShareOfRun};
use crate::scenario::Scenario;
use crate::shard::{Shard, until};

/// The split rule as recorded in results.
const RULE: &str = "shard I of N owns topics t with t % N == I; publisher p and subscriber s use topic id % topics";

/// Checks `--shard` against the scenario's topics and `--start-at` against the clock, and
/// returns the record to write (`None` when neither option was given).
pub fn record(args: &RunArgs, scenario: &Scenario) -> anyhow::Result<Option<ShardRecord>> {
    if args.shard.is_none() && args.start_at.is_none() {
        return Ok(None);
    }
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    shard
        .check_topics(scenario.topics)
        .map_err(|e| BadInput::msg(format!("{}: {e}", scenario.source.display())))?;
    if let Some(at) = args.start_at {
        // An instant already gone cannot align anything: the shards would start apart.
        if until(at).is_none() {
            return Err(BadInput::msg(format!(
                "--start-at {at} has already passed on this host's clock ({:.1} s ago); give an instant in the future",
                at.offset_now_ns() as f64 / 1e9
            )));
        }
    }
    let share = scenario
        .expand()
        .iter()
        .map(|spec| ShareOfRun {
            run: spec.name(),
            publishers: shard.clients_owned(scenario.publishers, scenario.topics),
            subscribers: shard.clients_owned(spec.subscribers, scenario.topics),
            publishers_total: scenario.publishers,
            subscribers_total: spec.subscribers,
        })
        .collect();
    Ok(Some(ShardRecord {
        index: shard.index(),
        count: shard.count(),
        host: environment::hostname(),
        rule: RULE.to_owned(),
        // The runner starts only the share's clients (runner::share).
        applied: true,
        topics: shard.topics(scenario.topics),
        share,
        start_at: args.start_at.map(|t| t.to_string()),
        // Measured by the runner when it waits for the instant before warm-up.
        clock_offset_ns: None,
    }))
}
