//! Which folders may be merged: each holds one shard's results (`summary.json` with a `shard`
//! record), all of one effective scenario (shard fields aside) and one shard count, and their
//! indices cover 0..N exactly once. Anything else is the user's input error (exit 2), naming
//! the folders involved.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::BadInput;
use crate::results::shards::ShardRecord;
use crate::results::{SCHEMA_VERSION, Summary, write};

/// One shard's results folder, read.
#[derive(Debug)]
pub struct ShardDir {
    /// The folder as given.
    pub dir: PathBuf,
    /// Its `summary.json`.
    pub summary: Summary,
    /// Its `shard` record.
    pub record: ShardRecord,
}

/// Effective-scenario keys that describe the share, not the scenario (ignored when comparing).
const SHARD_KEYS: &[&str] = &["shard", "start_at"];

/// Reads every folder and checks that together they are the shards of one scenario; returns
/// them ordered by shard index.
pub fn load(dirs: &[PathBuf]) -> anyhow::Result<Vec<ShardDir>> {
    let mut shards = dirs
        .iter()
        .map(|d| read_one(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    shards.sort_by_key(|s| s.record.index);
    let first = &shards[0];
    for s in &shards[1..] {
        same_count(first, s)?;
        same_scenario(first, s)?;
    }
    each_index_once(&shards)?;
    Ok(shards)
}

fn read_one(dir: &Path) -> anyhow::Result<ShardDir> {
    if !dir.join("summary.json").is_file() {
        return Err(BadInput::msg(format!(
            "{} holds no summary.json",
            dir.display()
        )));
    }
    let summary = write::read_summary(dir).map_err(BadInput)?;
    if summary.schema_version != SCHEMA_VERSION {
        return Err(BadInput::msg(format!(
            "{} has schema version {}; this tool reads version {SCHEMA_VERSION}",
            dir.display(),
            summary.schema_version
        )));
    }
    let record = summary.shard.clone().ok_or_else(|| {
        BadInput::msg(format!(
            "{} is not a shard's results (its summary.json has no `shard`): run each share with `run --shard I/N`",
            dir.display()
        ))
    })?;
    Ok(ShardDir {
        dir: dir.to_path_buf(),
        summary,
        record,
    })
}

fn same_count(a: &ShardDir, b: &ShardDir) -> anyhow::Result<()> {
    if a.record.count == b.record.count {
        return Ok(());
    }
    Err(BadInput::msg(format!(
        "shard counts differ: {} is shard {}/{} but {} is shard {}/{}",
        a.dir.display(),
        a.record.index,
        a.record.count,
        b.dir.display(),
        b.record.index,
        b.record.count
    )))
}

fn without_shard_keys(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in SHARD_KEYS {
            o.remove(*k);
        }
    }
    v
}

/// The first place two JSON values differ, as a dotted path with both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(&format!("{path}.{k}"), va, vb)
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(&format!("{path}[{i}]"), va, vb)),
        _ if a == b => None,
        _ => Some(format!("{path} is {a} in one and {b} in the other")),
    }
}

fn same_scenario(a: &ShardDir, b: &ShardDir) -> anyhow::Result<()> {
    let mismatch = |what: String| {
        BadInput::msg(format!(
            "mismatched scenarios: {} and {} did not run the same scenario ({what})",
            a.dir.display(),
            b.dir.display()
        ))
    };
    if a.summary.scenario.name != b.summary.scenario.name {
        return Err(mismatch(format!(
            "named `{}` and `{}`",
            a.summary.scenario.name, b.summary.scenario.name
        )));
    }
    let (ea, eb) = (
        without_shard_keys(&a.summary.scenario.effective),
        without_shard_keys(&b.summary.scenario.effective),
    );
    if let Some(d) = first_difference("effective", &ea, &eb) {
        return Err(mismatch(d));
    }
    let runs = |s: &Summary| -> Vec<(String, u32)> {
        s.runs
            .iter()
            .map(|r| (r.name.clone(), r.repetition))
            .collect()
    };
    if runs(&a.summary) != runs(&b.summary) {
        return Err(mismatch("their runs differ (names or repetitions)".into()));
    }
    Ok(())
}

fn each_index_once(shards: &[ShardDir]) -> anyhow::Result<()> {
    let count = shards[0].record.count;
    for w in shards.windows(2) {
        if w[0].record.index == w[1].record.index {
            return Err(BadInput::msg(format!(
                "shard {}/{count} given twice: {} and {}",
                w[0].record.index,
                w[0].dir.display(),
                w[1].dir.display()
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !shards.iter().any(|s| s.record.index == *i))
        .map(|i| i.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let given: Vec<String> = shards.iter().map(|s| s.record.index.to_string()).collect();
    Err(BadInput::msg(format!(
        "missing shard{} {} of {count} (given: {})",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", "),
        given.join(", ")
    )))
}
