//! `run` and `validate`: load a scenario and check what it needs, hand its matrix to
//! `runner::matrix`, write the results folder, print the table; or only check scenario files.

use std::path::PathBuf;
use std::time::SystemTime;

use super::args::RunArgs;
use super::{remote, sharding, table};
use crate::exit::{BadInput, Exit};
use crate::limits;
use crate::registry::TransportKind;
use crate::results::environment::{Environment, Placement};
use crate::results::summary::{ScenarioInfo, Summary};
use crate::results::{SCHEMA_VERSION, environment, write};
use crate::runner::{self, Progress};
use crate::scenario::{self, Scenario, ServerMode};

/// Applies command-line overrides to a loaded scenario.
fn apply_overrides(mut s: Scenario, args: &RunArgs) -> anyhow::Result<Scenario> {
    if !args.transports.is_empty() {
        let mut chosen = Vec::new();
        for name in &args.transports {
            let kind = TransportKind::from_name(name).ok_or_else(|| {
                BadInput::msg(format!(
                    "unknown transport `{name}`; allowed: {}",
                    TransportKind::names().join(", ")
                ))
            })?;
            if !chosen.contains(&kind) {
                chosen.push(kind);
            }
        }
        s.transports = chosen;
    }
    if args.no_baseline {
        s.transports.retain(|&k| k != TransportKind::RawTcp);
    } else if !args.transports.is_empty() && !s.transports.contains(&TransportKind::RawTcp) {
        s.transports.insert(0, TransportKind::RawTcp);
    }
    if s.transports.is_empty() {
        return Err(BadInput::msg("no transports left to run"));
    }
    if let Some(d) = args.duration {
        s.duration = d;
    }
    Ok(s)
}

fn default_out(s: &Scenario, started: SystemTime) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(started)
        .to_string()
        .replace(':', "-");
    PathBuf::from("results").join(&s.name).join(stamp)
}

fn load(arg: &str) -> anyhow::Result<Scenario> {
    let path = scenario::resolve_path(arg);
    Ok(scenario::load(&path)?)
}

/// `run SCENARIO`: checks what the run needs before anything connects, runs the matrix, then
/// writes and prints the results.
pub fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let scenario = apply_overrides(load(&args.scenario)?, &args)?;
    check_descriptors(&scenario, &scenario.expand())?;
    if scenario
        .expand()
        .iter()
        .any(|s| s.client == scenario::Client::Browser)
    {
        // Before any run starts: a missing browser is the user's to fix (exit 2), not a failure.
        crate::browser::locate().map_err(BadInput::msg)?;
    }
    let mut shard = sharding::record(&args, &scenario)?;
    let plan = runner::HostPlan {
        shard: args.shard,
        start_at: args.start_at,
        remote: remote::servers(&args, &scenario)?,
    };
    // Before any run starts: a server program that cannot start here is the user's to fix.
    runner::program::preflight(&scenario, &plan.remote)?;
    restarts_need_owned_servers(&scenario, &plan.remote)?;
    let placement = placement(&scenario, &plan.remote);
    let started = SystemTime::now();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&scenario, started));
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        BadInput::msg(format!(
            "cannot create results folder {}: {e}",
            out_dir.display()
        ))
    })?;
    let progress = Progress::new(args.quiet || args.json);
    progress.line(&format!(
        "{}: {} runs, about {:.0} s of load plus drains → {}",
        scenario.name,
        scenario.expand().len() * args.repeat as usize,
        scenario.planned_time().as_secs_f64() * f64::from(args.repeat),
        out_dir.display()
    ));
    let matrix = runner::Matrix {
        scenario: &scenario,
        plan,
        repeat: args.repeat,
        out_dir: &out_dir,
        started,
    };
    let ran = matrix.run(&progress, |r| progress.line(&table::one_line(r)))?;
    if let Some(record) = shard.as_mut() {
        record.clock_offset_ns = ran.clock_offset_ns;
    }
    let summary = summary(&scenario, ran, placement, shard, started)?;
    print_results(&summary, &out_dir, &progress, args.json)
}

/// The `summary.json` of a finished matrix.
fn summary(
    scenario: &Scenario,
    ran: runner::MatrixRun,
    placement: Placement,
    shard: Option<crate::results::shards::ShardRecord>,
    started: SystemTime,
) -> anyhow::Result<Summary> {
    let mut effective = serde_json::to_value(scenario)?;
    effective["transport_options"] = serde_json::Value::Object(ran.effective_options);
    Ok(Summary {
        schema_version: SCHEMA_VERSION,
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.source.display().to_string(),
            effective,
        },
        environment: Environment {
            placement: Some(placement),
            tls: ran.runs.iter().find_map(|r| r.tls.clone()),
            ..environment::collect(
                "multi-thread",
                ran.threads,
                scenario.socket,
                humantime::format_rfc3339_seconds(started).to_string(),
            )
        },
        runs: ran.runs,
        shard,
        merge: None,
    })
}

/// Writes the summary, charts and report, prints the table (or the JSON), and maps failed
/// runs to the exit code.
fn print_results(
    summary: &Summary,
    out_dir: &std::path::Path,
    progress: &Progress,
    json: bool,
) -> anyhow::Result<Exit> {
    let path = write::write_summary(out_dir, summary)?;
    // Charts and the report are derived from summary.json and can be redrawn with `report`,
    // so a drawing problem is reported without failing the measurement.
    match crate::report::write_outputs(summary, out_dir) {
        Ok(out) => progress.line(&format!(
            "report: {} ({} charts)",
            out.report.display(),
            out.charts.len()
        )),
        Err(e) => eprintln!("warning: charts/report not written: {e:#}"),
    }
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        println!("{}", table::render(summary));
        print!("{}", table::conditions(summary));
        println!("results: {}", path.display());
    }
    let failed: Vec<_> = summary.runs.iter().filter(|r| !r.status.is_ok()).collect();
    if failed.is_empty() {
        return Ok(Exit::Ok);
    }
    for r in &failed {
        eprintln!("run failed: {}: {}", r.name, r.failures.joined("; "));
    }
    Ok(Exit::RunFailed)
}

/// Where this scenario's server and load generator ran, for the environment block.
fn placement(
    scenario: &Scenario,
    remote: &std::collections::BTreeMap<TransportKind, runner::Remote>,
) -> Placement {
    let all_remote = scenario.transports.iter().all(|k| remote.contains_key(k));
    Placement {
        server_mode: match scenario.server.mode {
            _ if all_remote => "remote",
            ServerMode::Process => "process",
            ServerMode::InProcess => "in-process",
        }
        .to_owned(),
        server_cpus: scenario.server.cpus.clone(),
        load_cpus: scenario.load.cpus.clone(),
        remote_servers: remote::recorded(remote),
    }
}

/// A `server-restart` stops and starts the server: the runner must own it, and one reached
/// through `--server` is someone else's (exit 2 before anything runs).
fn restarts_need_owned_servers(
    scenario: &Scenario,
    remote: &std::collections::BTreeMap<TransportKind, runner::Remote>,
) -> anyhow::Result<()> {
    let restarts = scenario
        .faults
        .iter()
        .any(|f| f.kind == crate::link::FaultKind::ServerRestart);
    match remote.iter().next() {
        Some((kind, r)) if restarts => Err(BadInput::msg(format!(
            "{}: a server-restart fault needs a server the runner owns, but {kind} is reached \
             at {} (--server): the runner cannot stop or start it; drop --server or the fault",
            scenario.source.display(),
            r.address
        ))),
        _ => Ok(()),
    }
}

/// Raises the open-file limit as far as the largest run needs and refuses (exit 2) a scenario
/// whose runs cannot get their descriptors, before anything connects.
fn check_descriptors(scenario: &Scenario, specs: &[scenario::RunSpec]) -> anyhow::Result<()> {
    let clients = specs
        .iter()
        .map(|s| u64::from(s.subscribers) + u64::from(scenario.publishers))
        .max()
        .unwrap_or(0);
    let proxied = scenario.link.is_some() || scenario.faults.iter().any(|f| f.kind.needs_proxy());
    // A server in its own process holds its own descriptors.
    let in_process = scenario.server.mode == ServerMode::InProcess;
    let need = limits::descriptors_needed(clients, in_process, proxied);
    limits::raise_nofile(need).map_err(BadInput::msg)?;
    Ok(())
}

/// `validate SCENARIO...`.
pub fn validate(files: &[String]) -> anyhow::Result<Exit> {
    let mut exit = Exit::Ok;
    for arg in files {
        match load(arg) {
            Ok(s) => println!(
                "ok: {} ({} runs)",
                scenario::resolve_path(arg).display(),
                s.expand().len()
            ),
            Err(e) => {
                eprintln!("{e:#}");
                exit = Exit::BadInput;
            }
        }
    }
    Ok(exit)
}
