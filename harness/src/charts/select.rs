//! Which runs a chart shows: the run matrix split into variants (one per payload × subscriber
//! combination), repetitions reduced to one run, and the offered rate that comparisons use.
//! A scenario that sweeps `http` (long-poll, sse) has a variant per version, and the runs of
//! transports that speak no HTTP appear in each, beside the HTTP runs they are compared with.
//!
//! Every chart and report sentence goes through here so that they all describe the same runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::registry::TransportKind;
use crate::results::{RunResult, Summary};

/// Tags that do not split runs into variants: they are the chart's own dimensions, or repeat
/// a cell.
const NON_VARIANT_TAGS: [&str; 3] = ["transport", "rate", "repetition"];

/// An offered rate as a run matrix names it.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateKey {
    /// Open loop at this many messages per second.
    PerSec(f64),
    /// Closed loop, as fast as the in-flight window allows.
    Max,
}

impl RateKey {
    /// The rate of `run`: its `rate` tag, else its offered rate, else closed loop.
    pub fn of(run: &RunResult) -> RateKey {
        match run.tags.get("rate").map(String::as_str) {
            Some("max") => RateKey::Max,
            Some(r) => r
                .parse()
                .map_or_else(|_| Self::from_offered(run), RateKey::PerSec),
            None => Self::from_offered(run),
        }
    }

    fn from_offered(run: &RunResult) -> RateKey {
        run.offered_rate.map_or(RateKey::Max, RateKey::PerSec)
    }

    /// The open-loop rate, if this is one.
    pub fn per_sec(self) -> Option<f64> {
        match self {
            RateKey::PerSec(r) => Some(r),
            RateKey::Max => None,
        }
    }
}

/// One transport at one rate within a variant, repetitions reduced to a single run.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    /// The transport.
    pub transport: TransportKind,
    /// Offered rate.
    pub rate: RateKey,
    /// The representative run: the median-p99 repetition (the lower median for even counts).
    pub run: &'a RunResult,
    /// How many repetitions the cell had.
    pub repetitions: usize,
}

/// The runs sharing every tag except transport, rate and repetition.
#[derive(Debug, Clone)]
pub struct Variant<'a> {
    /// The tags that differ between variants (`payload=1KiB`); empty for a single variant.
    pub label: String,
    /// File-name suffix (`_payload-1KiB`); empty for a single variant.
    pub slug: String,
    /// Transports in the order they first ran (the raw-TCP floor first when present).
    pub transports: Vec<TransportKind>,
    /// Cells, in run order.
    pub cells: Vec<Cell<'a>>,
}

/// True if the run kept up with its offered load: not saturated, nothing lost, status ok.
pub fn sustained(run: &RunResult) -> bool {
    !run.load.saturated && run.delivery.lost == 0 && run.status.is_ok()
}

/// The scenario's p99 target, read from the effective scenario (`p99_target`, a human duration).
pub fn p99_target(summary: &Summary) -> Option<Duration> {
    let text = summary.scenario.effective.get("p99_target")?.as_str()?;
    humantime::parse_duration(text).ok()
}

/// Splits `summary` into variants.
pub fn variants(summary: &Summary) -> Vec<Variant<'_>> {
    // Variant key → (transport, rate text) → repetitions; Vec keeps first-seen order.
    let mut order: Vec<BTreeMap<String, String>> = Vec::new();
    let mut groups: Vec<Vec<(String, Vec<&RunResult>)>> = Vec::new();
    let http = http_versions(summary);
    for run in &summary.runs {
        let key: BTreeMap<String, String> = run
            .tags
            .iter()
            .filter(|(k, _)| !NON_VARIANT_TAGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for key in with_http(key, &http) {
            let vi = match order.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    order.push(key);
                    groups.push(Vec::new());
                    groups.len() - 1
                }
            };
            let cell_key = format!("{}\u{0}{}", run.transport, rate_text(RateKey::of(run)));
            match groups[vi].iter_mut().find(|(k, _)| *k == cell_key) {
                Some((_, runs)) => runs.push(run),
                None => groups[vi].push((cell_key, vec![run])),
            }
        }
    }
    // Name variants only by the tags that differ between them (`payload=1KiB`, not also the
    // constant `subscribers=1`); a single variant needs no name.
    // Over every variant's keys: a tag only some runs carry (`client=browser`) varies too.
    let varying: Vec<String> = order
        .first()
        .map(|first| {
            let keys: std::collections::BTreeSet<&String> =
                order.iter().flat_map(BTreeMap::keys).collect();
            keys.into_iter()
                .filter(|k| order.iter().any(|o| o.get(*k) != first.get(*k)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    order
        .into_iter()
        .zip(groups)
        .map(|(key, cells)| {
            let cells: Vec<Cell<'_>> = cells.into_iter().map(|(_, runs)| reduce(runs)).collect();
            let mut transports: Vec<TransportKind> = Vec::new();
            for c in &cells {
                if !transports.contains(&c.transport) {
                    transports.push(c.transport);
                }
            }
            let named: Vec<(&String, &String)> =
                key.iter().filter(|(k, _)| varying.contains(k)).collect();
            let label = named
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let slug: String = named
                .iter()
                .map(|(k, v)| format!("_{k}-{}", slug_part(v)))
                .collect();
            Variant {
                label,
                slug,
                transports,
                cells,
            }
        })
        .collect()
}

/// The `http` versions a scenario swept (for long-poll and sse), in the order first seen.
fn http_versions(summary: &Summary) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in summary.runs.iter().filter_map(|r| r.tags.get("http")) {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// The variant keys a run joins: its own; or, for a run that speaks no HTTP (no `http` tag)
/// in a scenario that sweeps `http`, one per version swept, so the raw-TCP floor and the other
/// patterns stand beside each HTTP version's runs.
fn with_http(key: BTreeMap<String, String>, http: &[String]) -> Vec<BTreeMap<String, String>> {
    if http.is_empty() || key.contains_key("http") {
        return vec![key];
    }
    http.iter()
        .map(|v| {
            let mut k = key.clone();
            k.insert("http".to_owned(), v.clone());
            k
        })
        .collect()
}

pub(crate) fn slug_part(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn rate_text(rate: RateKey) -> String {
    match rate {
        RateKey::PerSec(r) => format!("{r}"),
        RateKey::Max => "max".to_owned(),
    }
}

/// One run for a cell: the repetition with the median p99, so every field of the chosen run
/// stays consistent (an average of runs would mix spectra and counters from different runs).
fn reduce(mut runs: Vec<&RunResult>) -> Cell<'_> {
    runs.sort_by_key(|r| r.latency.latency_ns.p99);
    let repetitions = runs.len();
    let run = runs[(repetitions - 1) / 2];
    Cell {
        transport: run.transport,
        rate: RateKey::of(run),
        run,
        repetitions,
    }
}

impl<'a> Variant<'a> {
    /// The cell for `transport` at `rate`.
    pub fn cell(&self, transport: TransportKind, rate: RateKey) -> Option<&Cell<'a>> {
        self.cells
            .iter()
            .find(|c| c.transport == transport && c.rate == rate)
    }

    /// Distinct open-loop rates, ascending.
    pub fn open_rates(&self) -> Vec<f64> {
        let mut rates: Vec<f64> = self.cells.iter().filter_map(|c| c.rate.per_sec()).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates
    }

    /// The rate comparisons use: the highest open-loop rate every transport sustained; else the
    /// lowest open-loop rate; else closed loop.
    pub fn comparison_rate(&self) -> RateKey {
        let rates = self.open_rates();
        match rates
            .iter()
            .rev()
            .find(|&&r| self.all_sustained(RateKey::PerSec(r)))
            .or(rates.first())
        {
            Some(&r) => RateKey::PerSec(r),
            None => RateKey::Max,
        }
    }

    /// True if every transport has a sustained run at `rate`.
    pub fn all_sustained(&self, rate: RateKey) -> bool {
        self.transports
            .iter()
            .all(|t| self.cell(*t, rate).is_some_and(|c| sustained(c.run)))
    }

    /// The cells at `rate`, one per transport, in transport order.
    pub fn at(&self, rate: RateKey) -> Vec<&Cell<'a>> {
        self.transports
            .iter()
            .filter_map(|t| self.cell(*t, rate))
            .collect()
    }

    /// The highest open-loop rate `transport` sustained (and met `target` at, if given).
    pub fn max_sustained(
        &self,
        transport: TransportKind,
        target: Option<Duration>,
    ) -> Option<&Cell<'a>> {
        self.cells
            .iter()
            .filter(|c| c.transport == transport && c.rate.per_sec().is_some() && sustained(c.run))
            .filter(|c| target.is_none_or(|t| c.run.latency.latency_ns.p99 as u128 <= t.as_nanos()))
            .max_by(|a, b| {
                a.rate
                    .per_sec()
                    .unwrap_or(0.0)
                    .total_cmp(&b.rate.per_sec().unwrap_or(0.0))
            })
    }

    /// How the cells at `rate` were reduced, for subtitles.
    pub fn repetition_note(&self, rate: Option<RateKey>) -> String {
        let most = self
            .cells
            .iter()
            .filter(|c| rate.is_none_or(|r| c.rate == r))
            .map(|c| c.repetitions)
            .max()
            .unwrap_or(1);
        if most > 1 {
            format!("median-p99 run of {most} repetitions")
        } else {
            "one run each".to_owned()
        }
    }
}
