//! The run matrix: every cell of a scenario (each repetition of each expanded run) one after
//! another on one runtime, each cell's histogram files written as it finishes. Each cell runs
//! with one [`RunCtx`] (`ctx.rs`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::SystemTime;

use transport_core::Transport;

use super::ctx::{HostPlan, RunCtx};
use super::output::CellResult;
use super::progress::Progress;
use super::{aggregate, run, share};
use crate::browser::InBrowser;
use crate::exit::BadInput;
use crate::registry::Visit;
use crate::results::{Failure, FailureKind, RunResult, write};
use crate::scenario::{Client, RunSpec, Scenario};

/// Runs one cell with whichever transport its spec names, and with a browser's subscribers
/// when the spec says so.
pub async fn run_cell(ctx: &RunCtx<'_>) -> CellResult {
    struct Cell<'c>(&'c RunCtx<'c>);
    impl<'c> Visit for Cell<'c> {
        type Output = Pin<Box<dyn Future<Output = CellResult> + Send + 'c>>;
        fn visit<T: Transport>(self) -> Self::Output {
            match self.0.spec.client {
                Client::Rust => Box::pin(run_with::<T>(self.0)),
                // The same run, with `T`'s subscribers replaced by a browser page's.
                Client::Browser => Box::pin(run_with::<InBrowser<T>>(self.0)),
            }
        }
    }
    ctx.spec.transport.visit(Cell(ctx)).await
}

/// Runs one cell with transport `T` (the spec's transport only names the run and its options
/// table); public so tests and embedders can run transports that are not registered. With a
/// shard, the share runs as a run of its own (renumbered by [`share::of`]), so its result
/// counts only its own clients and pairs.
pub async fn run_with<T: Transport>(ctx: &RunCtx<'_>) -> CellResult {
    let (scenario, spec) = share::of(ctx.plan.shard, ctx.scenario, ctx.spec);
    let shared = RunCtx {
        scenario: &scenario,
        spec: &spec,
        ..*ctx
    };
    let mut cell = match run::run_one::<T>(&shared).await {
        Ok(out) => aggregate::reduce(out, scenario.allow_loss),
        Err(e) => aggregate::setup_failure(&spec, format!("{e:#}")),
    };
    let plan = ctx.plan;
    super::limits::assess(
        &mut cell.result,
        &scenario,
        plan.remote.contains_key(&spec.transport),
    );
    let sharded = plan.shard.is_some_and(|s| s.count() > 1);
    if sharded && plan.remote.contains_key(&spec.transport) {
        // The other shards load the same server at the same time: its CPU and memory are
        // theirs too, so ratios over this shard's deliveries or subscribers would overstate.
        let server = &mut cell.result.cost.resources.server.process;
        server.cpu_ns_per_delivered = None;
        server.rss_bytes_per_subscriber = None;
    }
    cell
}

/// A scenario's matrix as this host runs it.
#[derive(Debug)]
pub struct Matrix<'a> {
    /// The scenario, defaults and overrides applied.
    pub scenario: &'a Scenario,
    /// This host's share, start instant and remote servers.
    pub plan: HostPlan,
    /// Times to run each cell.
    pub repeat: u32,
    /// The results folder the cells' histogram files go to.
    pub out_dir: &'a Path,
    /// When the scenario started (names the cells' nonces, anchors unmeasured cells' files).
    pub started: SystemTime,
}

/// What running the matrix produced.
#[derive(Debug)]
pub struct MatrixRun {
    /// One entry per cell, in the order they ran.
    pub runs: Vec<RunResult>,
    /// Each transport's effective options, by name, for the effective scenario.
    pub effective_options: serde_json::Map<String, serde_json::Value>,
    /// How far past `--start-at` this host's clock was when the first cell's warm-up began.
    pub clock_offset_ns: Option<i64>,
    /// The runtime's worker threads.
    pub threads: usize,
}

impl Matrix<'_> {
    /// Runs every cell on a runtime of one worker per CPU the load generator may use, calling
    /// `done` with each cell's entry as it finishes.
    pub fn run(
        mut self,
        progress: &Progress,
        mut done: impl FnMut(&RunResult),
    ) -> anyhow::Result<MatrixRun> {
        // Pinned before the runtime starts, so every worker and the generator thread inherit it.
        if let Some(cpus) = &self.scenario.load.cpus {
            crate::affinity::pin_current(cpus).map_err(BadInput::msg)?;
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?;
        let specs = self.scenario.expand();
        let nonce = self.nonce();
        let mut out = MatrixRun {
            runs: Vec::new(),
            effective_options: effective_options(self.scenario, &specs),
            clock_offset_ns: None,
            threads,
        };
        for repetition in 0..self.repeat {
            for (i, spec) in specs.iter().enumerate() {
                let cell_nonce = format!("{nonce}-{repetition}-{i}");
                let ctx = RunCtx::new(self.scenario, spec, &cell_nonce, progress);
                let cell_started = SystemTime::now();
                let cell = runtime.block_on(run_cell(&ctx.with_plan(&self.plan)));
                // Only the first cell waits for --start-at; the rest follow on from it.
                if self.plan.start_at.take().is_some() {
                    out.clock_offset_ns = cell.clock_offset_ns;
                }
                let result = self.finish(cell, spec, repetition, cell_started);
                done(&result);
                out.runs.push(result);
            }
        }
        Ok(out)
    }

    /// Unique to this process and instant: topics and groups of one scenario never collide
    /// with another's on a shared broker.
    fn nonce(&self) -> String {
        let millis = self
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("{}-{millis}", std::process::id())
    }

    /// Names the cell's repetition and writes its histogram files.
    fn finish(
        &self,
        mut cell: CellResult,
        spec: &RunSpec,
        repetition: u32,
        cell_started: SystemTime,
    ) -> RunResult {
        cell.result.repetition = repetition;
        // A run of a swept transport says which values it ran with.
        if !spec.options.is_empty() {
            cell.result.transport_options = effective_options_of(self.scenario, spec).ok();
        }
        let file_name = if self.repeat > 1 {
            format!("{},rep={repetition}", spec.name())
        } else {
            spec.name()
        };
        // One run's histogram files failing to write must not throw away the others.
        match write::write_run_files(
            self.out_dir,
            &file_name,
            &cell.latency,
            &cell.intervals,
            // The window's own wall-clock start, so merge lines shards up second by second.
            cell.window_start.unwrap_or(cell_started),
        ) {
            Ok(files) => cell.result.files = files,
            Err(e) => cell.result.fail(Failure::new(
                FailureKind::Files,
                format!("writing histogram files: {e:#}"),
            )),
        }
        cell.result
    }
}

/// Each transport's effective options, by name (a transport whose options do not parse is
/// left out: its runs fail on their own); a swept knob holds the list of its values.
fn effective_options(
    scenario: &Scenario,
    specs: &[RunSpec],
) -> serde_json::Map<String, serde_json::Value> {
    let mut options = serde_json::Map::new();
    for &kind in &scenario.transports {
        let runs: Vec<serde_json::Value> = specs
            .iter()
            .filter(|s| s.transport == kind)
            .filter_map(|s| effective_options_of(scenario, s).ok())
            .collect();
        let Some(mut first) = runs.first().cloned() else {
            continue;
        };
        for sweep in scenario.option_sweeps.get(&kind).into_iter().flatten() {
            let values = crate::scenario::options::swept_values(&runs, sweep);
            if let Some(at) = sweep
                .path
                .iter()
                .try_fold(&mut first, |at, key| at.get_mut(key))
            {
                *at = serde_json::Value::Array(values);
            }
        }
        options.insert(kind.name().to_owned(), first);
    }
    // A swept `http` is every value swept, not the last run's.
    for (kind, versions) in &scenario.http {
        if let Some(serde_json::Value::Object(o)) = options.get_mut(kind.name()) {
            o.insert("http".to_owned(), serde_json::json!(versions));
        }
    }
    options
}

/// The effective options of a run's transport, as JSON, for the results' effective scenario.
fn effective_options_of(scenario: &Scenario, spec: &RunSpec) -> anyhow::Result<serde_json::Value> {
    struct Opts<'a>(&'a Scenario, &'a RunSpec);
    impl Visit for Opts<'_> {
        type Output = anyhow::Result<serde_json::Value>;
        fn visit<T: Transport>(self) -> Self::Output {
            Ok(serde_json::to_value(super::ctx::config_for::<T>(
                self.0, self.1,
            )?)?)
        }
    }
    spec.transport.visit(Opts(scenario, spec))
}
