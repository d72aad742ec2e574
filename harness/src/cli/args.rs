//! The command line as clap reads it: the subcommands and their arguments. The subcommands'
//! modules read their arguments from here, and `cli` dispatches on them, so the definitions
//! sit apart from both.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::compare::CompareArgs;

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
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e}; expected a duration like \"30s\" or \"250ms\""))?;
    if d.is_zero() {
        return Err("duration must be greater than zero".into());
    }
    Ok(d)
}
