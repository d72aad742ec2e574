//! What one cell of the matrix runs with: [`RunCtx`] (so the entry points take one argument
//! instead of threading five) and the [`HostPlan`] of this host's part in a multi-host run. The
//! matrix builds it and the phases of a run read it, so it belongs to neither; with it the
//! [`Remote`] servers it names, which the server and program phases both read, and each cell's
//! transport options ([`config_for`]), which the run, the program server and the effective
//! scenario all parse.

use std::collections::BTreeMap;

use transport_core::Transport;

use super::progress::Progress;
use crate::registry::TransportKind;
use crate::scenario::{RunSpec, Scenario};
use crate::shard::{Shard, StartAt};

/// A server someone else runs (`run --server NAME=HOST:PORT` or `[transport.<name>] address`),
/// and where its figures can be read (`--server-metrics NAME=URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `HOST:PORT` clients connect to.
    pub address: String,
    /// Its `serve --metrics` endpoint, `http://HOST:PORT/metrics`, if it has one.
    pub metrics: Option<String>,
}

/// What `run`'s multi-host flags add to a scenario's run: this host's share, the instant its
/// warm-up starts at, and servers someone else runs. The default is the whole run, now, with
/// every server started here.
#[derive(Debug, Clone, Default)]
pub struct HostPlan {
    /// Run only this shard's share (see [`super::share`]).
    pub shard: Option<Shard>,
    /// Connect, then wait for this instant before warm-up.
    pub start_at: Option<StartAt>,
    /// Servers to reach instead of starting one, by transport.
    pub remote: BTreeMap<TransportKind, Remote>,
}

/// The whole run on this host, now, with every server started here: the plan of a cell run
/// without `--shard`, `--start-at` or `--server`.
pub static WHOLE_RUN: HostPlan = HostPlan {
    shard: None,
    start_at: None,
    remote: BTreeMap::new(),
};

/// What one cell of the matrix runs with.
#[derive(Debug, Clone, Copy)]
pub struct RunCtx<'a> {
    /// The scenario, defaults and overrides applied.
    pub scenario: &'a Scenario,
    /// The matrix cell.
    pub spec: &'a RunSpec,
    /// Makes names the run creates (topics, consumer groups) unique to this cell.
    pub nonce: &'a str,
    /// Where progress lines go.
    pub progress: &'a Progress,
    /// This host's share, start instant and remote servers.
    pub plan: &'a HostPlan,
}

impl<'a> RunCtx<'a> {
    /// A cell run whole on this host ([`WHOLE_RUN`]).
    pub fn new(
        scenario: &'a Scenario,
        spec: &'a RunSpec,
        nonce: &'a str,
        progress: &'a Progress,
    ) -> RunCtx<'a> {
        RunCtx {
            scenario,
            spec,
            nonce,
            progress,
            plan: &WHOLE_RUN,
        }
    }

    /// The same cell, run as `plan` says.
    pub fn with_plan(self, plan: &'a HostPlan) -> RunCtx<'a> {
        RunCtx { plan, ..self }
    }
}

/// Parses the run's options table (validated when the scenario loaded): the transport's table
/// with the run's own value of each knob the scenario sweeps.
pub fn config_for<T: Transport>(scenario: &Scenario, spec: &RunSpec) -> anyhow::Result<T::Config> {
    let mut table = scenario.options_for(spec);
    if let Some(http) = &spec.http {
        // The run's one value of a swept `http`, which the table itself no longer holds.
        table
            .get_or_insert_with(toml::Table::new)
            .insert("http".to_owned(), toml::Value::String(http.clone()));
    }
    Ok(match table {
        Some(table) => table.try_into()?,
        None => T::Config::default(),
    })
}
