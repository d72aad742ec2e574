//! `run` and `validate`: load a scenario, run its matrix, write the results folder, print the
//! table; or only check scenario files.

use std::path::PathBuf;
use std::time::SystemTime;

use super::{BadInput, EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, RunArgs, table};
use crate::registry::TransportKind;
use crate::results::summary::{ScenarioInfo, Summary};
use crate::results::{SCHEMA_VERSION, environment, write};
use crate::runner::{self, Progress};
use crate::scenario::{self, Scenario};

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

/// `run SCENARIO`.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let scenario = apply_overrides(load(&args.scenario)?, &args)?;
    let shard = super::sharding::record(&args, &scenario)?;
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

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let progress = Progress::new(args.quiet || args.json);
    let specs = scenario.expand();
    let cells = specs.len() * args.repeat as usize;
    progress.line(&format!(
        "{}: {} runs, about {:.0} s of load plus drains → {}",
        scenario.name,
        cells,
        scenario.planned_time().as_secs_f64() * f64::from(args.repeat),
        out_dir.display()
    ));

    let mut runs = Vec::new();
    let mut effective_options = serde_json::Map::new();
    for spec in &specs {
        if let Ok(v) = runner::effective_options(&scenario, spec) {
            effective_options.insert(spec.transport.name().to_owned(), v);
        }
    }
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    for repetition in 0..args.repeat {
        for (i, spec) in specs.iter().enumerate() {
            let cell_started = SystemTime::now();
            let cell_nonce = format!("{nonce}-{repetition}-{i}");
            let mut cell =
                runtime.block_on(runner::run_cell(&scenario, spec, &cell_nonce, &progress));
            cell.result.repetition = repetition;
            let file_name = if args.repeat > 1 {
                format!("{},rep={repetition}", spec.name())
            } else {
                spec.name()
            };
            // One run's histogram files failing to write must not throw away the others.
            match write::write_run_files(
                &out_dir,
                &file_name,
                &cell.latency,
                &cell.intervals,
                cell_started,
            ) {
                Ok(files) => cell.result.files = files,
                Err(e) => {
                    cell.result.status = "failed".into();
                    cell.result
                        .failures
                        .push(format!("writing histogram files: {e:#}"));
                }
            }
            progress.line(&table::one_line(&cell.result));
            runs.push(cell.result);
        }
    }
    drop(runtime);

    let mut effective = serde_json::to_value(&scenario)?;
    effective["transport_options"] = serde_json::Value::Object(effective_options);
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.source.display().to_string(),
            effective,
        },
        environment: environment::collect(
            "multi-thread",
            threads,
            scenario.socket,
            humantime::format_rfc3339_seconds(started).to_string(),
        ),
        runs,
        shard,
        merge: None,
    };
    let path = write::write_summary(&out_dir, &summary)?;
    // Charts and the report are derived from summary.json and can be redrawn with `report`,
    // so a drawing problem is reported without failing the measurement.
    match crate::report::write_outputs(&summary, &out_dir) {
        Ok(out) => progress.line(&format!(
            "report: {} ({} charts)",
            out.report.display(),
            out.charts.len()
        )),
        Err(e) => eprintln!("warning: charts/report not written: {e:#}"),
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", table::render(&summary));
        print!("{}", table::conditions(&summary));
        println!("results: {}", path.display());
    }
    let failed: Vec<_> = summary.runs.iter().filter(|r| r.status != "ok").collect();
    if failed.is_empty() {
        return Ok(EXIT_OK);
    }
    for r in &failed {
        eprintln!("run failed: {}: {}", r.name, r.failures.join("; "));
    }
    Ok(EXIT_RUN_FAILED)
}

/// `validate SCENARIO...`.
pub fn validate(files: &[String]) -> anyhow::Result<u8> {
    let mut code = EXIT_OK;
    for arg in files {
        match load(arg) {
            Ok(s) => println!(
                "ok: {} ({} runs)",
                scenario::resolve_path(arg).display(),
                s.expand().len()
            ),
            Err(e) => {
                eprintln!("{e:#}");
                code = EXIT_BAD_INPUT;
            }
        }
    }
    Ok(code)
}
