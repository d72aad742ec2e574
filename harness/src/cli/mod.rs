//! The `transport-bench` command line: clap definitions and the mapping from outcomes to the
//! exit codes of [`crate::exit::Exit`].

mod compare;
mod list;
mod remote;
mod run;
mod serve;
mod sharding;
pub mod table;

pub use compare::CompareArgs;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

pub use crate::exit::BadInput;
use crate::exit::Exit;

/// Measures HTTP long polling, WebSockets, Server-Sent Events and a Kafka-style pull log under
/// one open-loop workload, next to a raw-TCP floor.
#[derive(Debug, Parser)]
#[command(name = "transport-bench", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and write a results folder.
    Run(RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or bare names (looked up in scenarios/).
        #[arg(required = true)]
        scenarios: Vec<String>,
    },
    /// List registered transports and their options.
    List,
    /// Run one transport's server standalone until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Redraw the charts and report.md of a saved results folder, without re-running.
    Report {
        /// Results folder holding summary.json.
        dir: PathBuf,
    },
    /// Compare two results (folders or summary.json) and gate on regressions (exit 4).
    Compare(CompareArgs),
    /// Merge the results folders of one scenario's shards (`run --shard I/N`) into one.
    Merge(crate::merge::MergeArgs),
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario file, or a bare name looked up in scenarios/.
    pub scenario: String,
    /// Results folder [default: results/<scenario>/<UTC time>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these transports (repeatable); raw-tcp is kept as the floor unless --no-baseline.
    #[arg(long = "transport", value_name = "NAME")]
    pub transports: Vec<String>,
    /// Do not add the raw-tcp floor to the transports.
    #[arg(long)]
    pub no_baseline: bool,
    /// Override the measured window of every run (e.g. "5s").
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run each cell of the matrix this many times (for noise estimates in `compare`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Print summary.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N (0 <= I < N): the topics t with t % N == I and their clients.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Start warm-up at this wall-clock instant (RFC 3339 UTC, e.g. 2026-12-04T13:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub start_at: Option<crate::shard::StartAt>,
    /// Use the server someone else runs for transport NAME (`serve` on another host) instead of
    /// starting one (repeatable).
    #[arg(long = "server", value_name = "NAME=HOST:PORT")]
    pub servers: Vec<String>,
    /// Read that remote server's wire bytes, counters and resources from its `serve --metrics`
    /// endpoint (repeatable); without it they are reported unavailable.
    #[arg(long = "server-metrics", value_name = "NAME=URL")]
    pub server_metrics: Vec<String>,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Transport to serve (see `list`).
    #[arg(long)]
    pub transport: String,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
    /// Transport option as `key=value`, value in TOML syntax (repeatable), e.g. `--set hold='"5s"'`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Also serve Prometheus metrics (`GET /metrics`: CPU, memory, fds, wire bytes, counters)
    /// on this address, e.g. `127.0.0.1:0`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// `TCP_NODELAY` on accepted connections (`--nodelay false` lets Nagle's algorithm batch,
    /// as a scenario's `[socket] nodelay = false` does).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub nodelay: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration like \"30s\" or \"250ms\""))?;
    if d.is_zero() {
        return Err("duration must be greater than zero".into());
    }
    Ok(d)
}

/// Runs the parsed command, returning how to exit for outcomes that are not errors.
pub fn execute(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate { scenarios } => run::validate(&scenarios),
        Command::List => {
            list::print();
            Ok(Exit::Ok)
        }
        Command::Serve(args) => serve::serve(args),
        Command::Report { dir } => {
            if !dir.join("summary.json").is_file() {
                return Err(BadInput::msg(format!(
                    "{} holds no summary.json",
                    dir.display()
                )));
            }
            // An unreadable or foreign summary.json is the user's input, not a failed run.
            let summary = crate::results::write::read_summary(&dir).map_err(BadInput)?;
            if summary.schema_version != crate::results::SCHEMA_VERSION {
                return Err(BadInput::msg(format!(
                    "{} has schema version {}; this tool reads version {}",
                    dir.display(),
                    summary.schema_version,
                    crate::results::SCHEMA_VERSION
                )));
            }
            let out = crate::report::write_outputs(&summary, &dir)?;
            for c in &out.charts {
                println!("{}", c.display());
            }
            println!("{}", out.report.display());
            Ok(Exit::Ok)
        }
        Command::Compare(args) => compare::execute(args),
        Command::Merge(args) => crate::merge::execute(args),
    }
}

/// How to exit after an error: bad input, or a failed run.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    let bad = err
        .chain()
        .any(|e| e.is::<BadInput>() || e.is::<crate::scenario::ScenarioError>());
    if bad {
        return Exit::BadInput;
    }
    // A comparison's own errors know whether the user's input was at fault.
    err.chain()
        .find_map(|e| e.downcast_ref::<crate::compare::CompareError>())
        .map_or(Exit::RunFailed, crate::compare::CompareError::exit)
}
