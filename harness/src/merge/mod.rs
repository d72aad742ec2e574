//! `merge DIR... --out DIR`: one results folder from the shards of one scenario
//! (`run --shard I/N` on several hosts).
//!
//! Histograms are added exactly (HdrHistogram `add`, never averaged percentiles): each run's
//! whole latency histogram from its `.hdr` file, and its per-second histograms from its interval
//! log, aligned by wall clock. Counts and wire bytes are summed; the audit stays per pair because
//! every (publisher, subscriber) pair lived on one shard, and each shard's own figures are kept in
//! `merge.shards`. Charts and `report.md` are then drawn exactly as for a run. Which folders may
//! be merged is decided in `check.rs`; the per-run arithmetic is in `combine.rs`; the histogram
//! files in `hist.rs`.

pub(crate) mod check;
mod combine;
mod hist;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

pub use check::ShardDir;
pub use combine::percentile_bound;
pub use hist::{IntervalLog, align, read_interval_log};

use crate::exit::{BadInput, Exit};
use crate::results::resources::ProcessFigures;
use crate::results::shards::{MergeRecord, MergedShard, ShardRun};
use crate::results::summary::{RunResult, Summary};
use crate::results::write;

/// Arguments of `merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' results folders (one per index 0..N, any order).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged results (must not already hold a summary.json).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `merge DIR... --out DIR`.
pub fn execute(args: MergeArgs) -> anyhow::Result<Exit> {
    if args.out.join("summary.json").exists() {
        return Err(BadInput::msg(format!(
            "{} already holds results; give an empty or new folder to --out",
            args.out.display()
        )));
    }
    let shards = check::load(&args.dirs)?;
    if shards.iter().any(|s| !s.record.applied) {
        eprintln!(
            "warning: some shards ran every client of the scenario (shard.applied = false): the merge adds whole runs"
        );
    }
    let summary = merge_into(&shards, &args.out)?;
    let path = write::write_summary(&args.out, &summary)?;
    let out = crate::report::write_outputs(&summary, &args.out)?;
    for c in &out.charts {
        println!("{}", c.display());
    }
    println!("{}", out.report.display());
    println!("results: {}", path.display());
    Ok(Exit::Ok)
}

/// Merges checked shards into a summary, writing each run's histogram files under `out`.
pub fn merge_into(shards: &[ShardDir], out: &Path) -> anyhow::Result<Summary> {
    let first = &shards[0].summary;
    let mut bounds = BTreeSet::new();
    let mut runs = Vec::with_capacity(first.runs.len());
    let mut starts = vec![Vec::new(); shards.len()];
    for j in 0..first.runs.len() {
        let parts: Vec<&RunResult> = shards.iter().map(|s| &s.summary.runs[j]).collect();
        let latency = hist::add_all(&read_latencies(shards, j)?)?;
        let logs = read_logs(shards, j)?;
        for (k, log) in logs.iter().enumerate() {
            starts[k].push(log.start);
        }
        let (start, seconds) = hist::align(&logs)?;
        let mut run = combine::run(&parts, &latency, &seconds, &mut bounds);
        let shifts: Vec<usize> = logs.iter().map(|l| hist::shift(l.start, start)).collect();
        let shared = shared_remote(shards, run.transport.name());
        combine::second_resources(&mut run.timeseries, &parts, &shifts, shared.is_none());
        if shared.is_none() {
            run.cost.resources.server.peaks = combine::peak_sum(&parts, &mut bounds);
        }
        if let Some(address) = shared {
            // Each shard read the whole server, the other shards' traffic included: a sum
            // would count it N times. Each shard's own reading stays in its folder.
            let reason = format!(
                "every shard used the one remote server {address}, whose figures include all shards' traffic; see each shard's results"
            );
            // A mirror of each shard's own clients adds up exactly; a count at the server does not.
            if !run.traffic.wire.server_mirrored {
                run.traffic.wire.server = None;
            }
            run.cost.resources.server = ProcessFigures::unavailable(reason).into();
        }
        let name = if first.runs.iter().filter(|r| r.name == run.name).count() > 1 {
            format!("{},rep={}", run.name, run.repetition)
        } else {
            run.name.clone()
        };
        run.files = write::write_run_files(out, &name, &latency, &seconds, start)?;
        runs.push(run);
    }
    let mut environment = first.environment.clone();
    let mut hosts: Vec<&str> = shards.iter().map(|s| s.record.host.as_str()).collect();
    hosts.dedup();
    environment.hostname = hosts.join(",");
    environment.started_at = shards
        .iter()
        .map(|s| s.summary.environment.started_at.clone())
        .min()
        .unwrap_or_default();
    Ok(Summary {
        schema_version: first.schema_version,
        scenario: first.scenario.clone(),
        environment,
        runs,
        shard: None,
        merge: Some(MergeRecord {
            count: shards[0].record.count,
            bounds: bounds.into_iter().collect(),
            shards: shards
                .iter()
                .zip(starts)
                .map(|(s, st)| merged_shard(s, &st))
                .collect(),
        }),
    })
}

/// The address of the remote server every shard used for `transport`, if they shared one.
fn shared_remote(shards: &[ShardDir], transport: &str) -> Option<String> {
    let address = |s: &ShardDir| {
        let placement = s.summary.environment.placement.as_ref()?;
        Some(placement.remote_servers.get(transport)?.address.clone())
    };
    let first = address(&shards[0])?;
    shards
        .iter()
        .all(|s| address(s).as_ref() == Some(&first))
        .then_some(first)
}

/// Every shard's whole latency histogram of run `j`; a shard without one cannot be merged
/// exactly, so that is refused.
fn read_latencies(shards: &[ShardDir], j: usize) -> anyhow::Result<Vec<Histogram<u64>>> {
    shards
        .iter()
        .map(|s| {
            let r = &s.summary.runs[j];
            let rel = r.files.latency_hdr.as_ref().ok_or_else(|| {
                BadInput::msg(format!(
                    "{}: run {} has no whole latency histogram (files.latency_hdr); results from before it was written cannot be merged exactly: rerun the shard",
                    s.dir.display(),
                    r.name
                ))
            })?;
            write::read_histogram(&s.dir.join(rel)).map_err(bad)
        })
        .collect()
}

/// A shard's unreadable file is the user's input, not a failed run.
fn bad(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(BadInput(e))
}

fn read_logs(shards: &[ShardDir], j: usize) -> anyhow::Result<Vec<IntervalLog>> {
    shards
        .iter()
        .map(|s| read_interval_log(&s.dir.join(&s.summary.runs[j].files.interval_log)).map_err(bad))
        .collect()
}

fn merged_shard(s: &ShardDir, starts: &[std::time::SystemTime]) -> MergedShard {
    MergedShard {
        dir: s.dir.display().to_string(),
        shard: s.record.clone(),
        environment: s.summary.environment.clone(),
        runs: s
            .summary
            .runs
            .iter()
            .zip(starts)
            .map(|(r, &st)| ShardRun {
                name: r.name.clone(),
                repetition: r.repetition,
                status: r.status,
                published: r.delivery.published,
                delivered: r.delivery.delivered,
                lost: r.delivery.lost,
                duplicated: r.delivery.duplicated,
                reordered: r.delivery.reordered,
                latency_p99_ns: r.latency.latency_ns.p99,
                interval_log_start: Some(humantime::format_rfc3339_millis(st).to_string()),
                resources: r.cost.resources.clone(),
            })
            .collect(),
    }
}
