//! Reading the two sides of a comparison and pairing their runs.
//!
//! A side is a results folder (its `summary.json` is read) or a `summary.json` file. Runs are
//! grouped by `name` (the sorted tags), so `run --repeat N` output — N entries sharing a name —
//! becomes one group of N repetitions. Runs present on only one side are an error listing both
//! sets: guessing which runs "correspond" would compare the wrong things silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::results::{RunResult, SCHEMA_VERSION, Summary};

use super::error::CompareError;
use crate::metric::ThresholdOverride;

/// One side of a comparison, loaded.
#[derive(Debug, Clone)]
pub struct Side {
    /// The `summary.json` that was read.
    pub path: PathBuf,
    /// Its contents.
    pub summary: Summary,
}

impl Side {
    /// Load a results folder or a `summary.json` file.
    pub fn load(path: &Path) -> Result<Side, CompareError> {
        let file = if path.is_dir() {
            path.join("summary.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| CompareError::Read {
            path: file.clone(),
            source,
        })?;
        // Check the version before the full parse so an incompatible file gets a clear message
        // rather than a missing-field error.
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|source| CompareError::Parse {
                path: file.clone(),
                source,
            })?
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            return Err(CompareError::Schema {
                path: file,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let summary: Summary =
            serde_json::from_str(&text).map_err(|source| CompareError::Parse {
                path: file.clone(),
                source,
            })?;
        if summary.runs.is_empty() {
            return Err(CompareError::Empty { path: file });
        }
        Ok(Side {
            path: file,
            summary,
        })
    }

    /// Runs grouped by name (repetitions together), in name order.
    pub fn groups(&self) -> BTreeMap<&str, Vec<&RunResult>> {
        let mut groups: BTreeMap<&str, Vec<&RunResult>> = BTreeMap::new();
        for run in &self.summary.runs {
            groups.entry(run.name.as_str()).or_default().push(run);
        }
        groups
    }
}

/// A run present on both sides, with every repetition of each.
#[derive(Debug, Clone)]
pub struct Pair<'a> {
    /// The run name (sorted tags).
    pub name: &'a str,
    /// Baseline repetitions.
    pub baseline: Vec<&'a RunResult>,
    /// Candidate repetitions.
    pub candidate: Vec<&'a RunResult>,
}

/// Pair the runs of both sides by name; any run on only one side is an error naming them all.
pub fn pair<'a>(baseline: &'a Side, candidate: &'a Side) -> Result<Vec<Pair<'a>>, CompareError> {
    let mut base = baseline.groups();
    let mut cand = candidate.groups();
    let only_baseline: Vec<String> = base
        .keys()
        .filter(|k| !cand.contains_key(*k))
        .map(|k| (*k).to_owned())
        .collect();
    let only_candidate: Vec<String> = cand
        .keys()
        .filter(|k| !base.contains_key(*k))
        .map(|k| (*k).to_owned())
        .collect();
    if !only_baseline.is_empty() || !only_candidate.is_empty() {
        return Err(CompareError::Mismatch {
            baseline_scenario: baseline.summary.scenario.name.clone(),
            candidate_scenario: candidate.summary.scenario.name.clone(),
            only_baseline,
            only_candidate,
        });
    }
    let names: Vec<&'a str> = base.keys().copied().collect();
    Ok(names
        .into_iter()
        .map(|name| Pair {
            name,
            baseline: base.remove(name).unwrap_or_default(),
            candidate: cand.remove(name).unwrap_or_default(),
        })
        .collect())
}

/// Thresholds a scenario sets in its `[compare]` table (carried into `summary.json` as
/// `scenario.effective.compare`, e.g. `{"p99": "15%", "overhead": 1}`); empty when absent.
pub fn scenario_thresholds(side: &Side) -> Result<Vec<ThresholdOverride>, CompareError> {
    let Some(table) = side.summary.scenario.effective.get("compare") else {
        return Ok(Vec::new());
    };
    let bad = |why: String| {
        CompareError::Threshold(crate::metric::ThresholdError(format!(
            "{}: scenario [compare] table: {why}",
            side.path.display()
        )))
    };
    let table = table
        .as_object()
        .ok_or_else(|| bad("not a table of METRIC = \"VALUE\"".to_owned()))?;
    table
        .iter()
        .map(|(metric, value)| {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(bad(format!(
                        "{metric} = {other} is not \"15%\" or a number"
                    )));
                }
            };
            format!("{metric}={value}")
                .parse::<ThresholdOverride>()
                .map_err(|e| bad(e.to_string()))
        })
        .collect()
}

/// The floor (raw-TCP) pair with the same tags as `pair` apart from the transport, if any.
pub fn floor_of<'p, 'a>(pairs: &'p [Pair<'a>], pair: &Pair<'a>) -> Option<&'p Pair<'a>> {
    let mut tags = pair.baseline.first()?.tags.clone();
    tags.insert(
        "transport".to_owned(),
        crate::registry::FLOOR.name().to_owned(),
    );
    pairs.iter().find(|p| {
        p.name != pair.name
            && p.baseline
                .first()
                .is_some_and(|r| r.transport == crate::registry::FLOOR && r.tags == tags)
    })
}

/// How the baseline's machine differs from the candidate's, if it does: another CPU model or
/// core count makes absolute figures incomparable, whatever the noise model says.
pub fn other_machine(baseline: &Side, candidate: &Side) -> Option<String> {
    let (b, c) = (
        &baseline.summary.environment,
        &candidate.summary.environment,
    );
    let mut diffs = Vec::new();
    if b.cpu_model != c.cpu_model {
        diffs.push(format!("CPU `{}` vs `{}`", b.cpu_model, c.cpu_model));
    }
    if b.cpu_count != c.cpu_count {
        diffs.push(format!("{} vs {} cores", b.cpu_count, c.cpu_count));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Differences between the two sides that do not stop the comparison but may explain it
/// (debug vs release, another CPU, different socket options or scenario settings).
pub fn environment_warnings(baseline: &Side, candidate: &Side) -> Vec<String> {
    let (b, c) = (&baseline.summary, &candidate.summary);
    let mut warnings = Vec::new();
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            warnings.push(format!("{what} differs: baseline `{x}`, candidate `{y}`"));
        }
    };
    differ("scenario", b.scenario.name.clone(), c.scenario.name.clone());
    differ(
        "build profile",
        b.environment.profile.clone(),
        c.environment.profile.clone(),
    );
    differ(
        "CPU model",
        b.environment.cpu_model.clone(),
        c.environment.cpu_model.clone(),
    );
    differ(
        "CPU count",
        b.environment.cpu_count.to_string(),
        c.environment.cpu_count.to_string(),
    );
    differ(
        "runtime",
        format!(
            "{} x{}",
            b.environment.runtime_flavor, b.environment.worker_threads
        ),
        format!(
            "{} x{}",
            c.environment.runtime_flavor, c.environment.worker_threads
        ),
    );
    differ(
        "socket options",
        serde_json::to_string(&b.environment.socket).unwrap_or_default(),
        serde_json::to_string(&c.environment.socket).unwrap_or_default(),
    );
    // Settings that are not tags (duration, warm-up, transport options) change what a run
    // measures without changing its name: name the settings that differ, two levels deep
    // (`transport_options.long-poll.encoding`) so the reader knows where to look.
    let mut paths = std::collections::BTreeSet::new();
    differing_paths(
        &b.scenario.effective,
        &c.scenario.effective,
        "",
        0,
        &mut paths,
    );
    if !paths.is_empty() {
        warnings.push(format!(
            "scenario settings differ: {}",
            paths
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    warnings
}

/// Collects the dotted paths (at most three levels) where two JSON values differ, skipping the
/// scenario's file, name and description (a baseline is a copy and may be renamed).
fn differing_paths(
    a: &serde_json::Value,
    b: &serde_json::Value,
    prefix: &str,
    depth: usize,
    out: &mut std::collections::BTreeSet<String>,
) {
    if a == b {
        return;
    }
    match (a.as_object(), b.as_object()) {
        (Some(ao), Some(bo)) if depth < 3 => {
            for key in ao.keys().chain(bo.keys()) {
                if depth == 0 && matches!(key.as_str(), "source" | "file" | "name" | "description")
                {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let null = serde_json::Value::Null;
                let (x, y) = (ao.get(key).unwrap_or(&null), bo.get(key).unwrap_or(&null));
                differing_paths(x, y, &path, depth + 1, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}
