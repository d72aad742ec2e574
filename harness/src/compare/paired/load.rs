//! Reading the two sides of a paired comparison and lining their repetitions up.
//!
//! A side is a folder holding one results folder per repetition (any names; sorted, they give
//! the order the repetitions ran in), or a single results folder. Every run name must occur
//! equally often on both sides: a pair with a missing half cannot be judged, and guessing
//! would compare the wrong things silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compare::error::CompareError;
use crate::compare::input::Side;
use crate::results::{RunResult, Summary};

/// One side of a paired comparison: its repetitions' summaries in the order they ran.
#[derive(Debug, Clone)]
pub struct PairedSide {
    /// The folder given on the command line.
    pub root: PathBuf,
    /// Each repetition's `summary.json`, with its contents, in order.
    pub repetitions: Vec<Side>,
}

impl PairedSide {
    /// Load a folder of results folders (or one results folder).
    pub fn load(root: &Path) -> Result<PairedSide, CompareError> {
        if root.join("summary.json").is_file() {
            return Ok(PairedSide {
                root: root.to_path_buf(),
                repetitions: vec![Side::load(root)?],
            });
        }
        let entries = std::fs::read_dir(root).map_err(|source| CompareError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("summary.json").is_file())
            .collect();
        folders.sort();
        if folders.is_empty() {
            return Err(CompareError::Empty {
                path: root.to_path_buf(),
            });
        }
        let repetitions = folders
            .iter()
            .map(|f| Side::load(f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PairedSide {
            root: root.to_path_buf(),
            repetitions,
        })
    }

    /// The commits this side was built from (one, unless the folders were mixed).
    pub fn commits(&self) -> Vec<&str> {
        let mut c: Vec<&str> = self
            .repetitions
            .iter()
            .map(|s| s.summary.environment.git_commit.as_str())
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Whether every repetition pinned the server and the load generator to disjoint CPUs.
    pub fn pinned(&self) -> bool {
        self.repetitions.iter().all(|s| pinned_apart(&s.summary))
    }

    /// Runs grouped by name, repetitions in the order they ran.
    pub fn groups(&self) -> BTreeMap<&str, Vec<&RunResult>> {
        let mut groups: BTreeMap<&str, Vec<&RunResult>> = BTreeMap::new();
        for side in &self.repetitions {
            for run in &side.summary.runs {
                groups.entry(run.name.as_str()).or_default().push(run);
            }
        }
        groups
    }
}

/// Server and load generator pinned, to CPUs that do not overlap.
pub fn pinned_apart(summary: &Summary) -> bool {
    let Some(p) = &summary.environment.placement else {
        return false;
    };
    match (&p.server_cpus, &p.load_cpus) {
        (Some(s), Some(l)) => !s.is_empty() && !l.is_empty() && s.iter().all(|c| !l.contains(c)),
        _ => false,
    }
}

/// A run with its repetitions on both sides, index k of one pairing with index k of the other.
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    /// Run name.
    pub name: &'a str,
    /// Base repetitions.
    pub base: Vec<&'a RunResult>,
    /// Candidate repetitions.
    pub candidate: Vec<&'a RunResult>,
}

/// Pair the repetitions of both sides run by run; a run missing on a side, or present a
/// different number of times, is an error naming it.
pub fn pair<'a>(
    base: &'a PairedSide,
    candidate: &'a PairedSide,
) -> Result<Vec<Pairs<'a>>, CompareError> {
    let mut a = base.groups();
    let mut b = candidate.groups();
    let unmatched: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k).map(Vec::len) != b.get(*k).map(Vec::len))
        .map(|k| {
            let count = |g: &BTreeMap<&str, Vec<&RunResult>>| g.get(k).map_or(0, Vec::len);
            format!("{k} (base {}, candidate {})", count(&a), count(&b))
        })
        .collect();
    if !unmatched.is_empty() {
        let mut unmatched = unmatched;
        unmatched.sort();
        unmatched.dedup();
        return Err(CompareError::Unpaired { runs: unmatched });
    }
    let names: Vec<&'a str> = a.keys().copied().collect();
    Ok(names
        .into_iter()
        .map(|name| Pairs {
            name,
            base: a.remove(name).unwrap_or_default(),
            candidate: b.remove(name).unwrap_or_default(),
        })
        .collect())
}

/// Differences a reader should know: the sides ran on different hosts or CPUs (then they were
/// not paired on one machine at all), or under different settings.
pub fn warnings(base: &PairedSide, candidate: &PairedSide) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (base.repetitions.first(), candidate.repetitions.first()) {
        out.extend(crate::compare::input::environment_warnings(a, b));
        let (ea, eb) = (&a.summary.environment, &b.summary.environment);
        if ea.hostname != eb.hostname {
            out.push(format!(
                "the sides ran on different hosts (`{}`, `{}`): pairs only cancel noise on one machine",
                ea.hostname, eb.hostname
            ));
        }
    }
    for (what, side) in [("base", base), ("candidate", candidate)] {
        if side.commits().len() > 1 {
            out.push(format!(
                "the {what} repetitions come from several commits: {}",
                side.commits().join(", ")
            ));
        }
    }
    out
}
