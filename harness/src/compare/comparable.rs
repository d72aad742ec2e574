//! Whether a baseline and a candidate are the same experiment at all: the same scenario, the
//! same transports and the same `summary.json` schema. The trend gate compares `main` with a
//! committed baseline; a baseline taken from another scenario, before a transport joined, or
//! under another schema would be judged run by run into verdicts that mean nothing, so the
//! comparison is refused (bad input, exit 2) with both sides named instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::CompareError;

/// What identifies the experiment a results folder holds.
#[derive(Debug, PartialEq)]
struct Identity {
    schema_version: String,
    scenario: String,
    transports: String,
}

/// Refuses, naming both sides, when `baseline` and `candidate` (results folders or
/// `summary.json` files) differ in schema version, scenario name or transport set.
pub fn check(baseline: &Path, candidate: &Path) -> Result<(), CompareError> {
    let (b_path, c_path) = (summary_file(baseline), summary_file(candidate));
    let (b, c) = (identity(&b_path)?, identity(&c_path)?);
    let differs = [
        ("schema_version", &b.schema_version, &c.schema_version),
        ("scenario", &b.scenario, &c.scenario),
        ("transport set", &b.transports, &c.transports),
    ]
    .into_iter()
    .find(|(_, b, c)| b != c);
    match differs {
        None => Ok(()),
        Some((what, b, c)) => Err(CompareError::Incomparable {
            what,
            baseline: b_path,
            baseline_value: b.clone(),
            candidate: c_path,
            candidate_value: c.clone(),
        }),
    }
}

fn summary_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    }
}

fn identity(file: &Path) -> Result<Identity, CompareError> {
    let text = std::fs::read_to_string(file).map_err(|source| CompareError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|source| CompareError::Parse {
        path: file.to_path_buf(),
        source,
    })?;
    let shown = |v: Option<&Value>| v.map_or_else(|| "none".to_owned(), Value::to_string);
    let transports: BTreeSet<String> = v["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| shown(r.get("transport")))
        .collect();
    Ok(Identity {
        schema_version: shown(v.get("schema_version")),
        scenario: shown(v.pointer("/scenario/name")),
        transports: format!(
            "[{}]",
            transports.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body).expect("write");
        path
    }

    fn summary(version: u32, scenario: &str, transports: &[&str]) -> String {
        let runs: Vec<String> = transports
            .iter()
            .map(|t| format!("{{\"transport\":\"{t}\"}}"))
            .collect();
        format!(
            "{{\"schema_version\":{version},\"scenario\":{{\"name\":\"{scenario}\"}},\"runs\":[{}]}}",
            runs.join(",")
        )
    }

    #[test]
    fn the_same_experiment_is_comparable_and_each_difference_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let base = write(d, "b.json", &summary(4, "ci", &["raw-tcp", "sse"]));
        let same = write(d, "c.json", &summary(4, "ci", &["sse", "raw-tcp", "sse"]));
        assert!(check(&base, &same).is_ok());
        let cases = [
            (
                summary(3, "ci", &["raw-tcp", "sse"]),
                "schema_version",
                "4",
                "3",
            ),
            (
                summary(4, "gate", &["raw-tcp", "sse"]),
                "scenario",
                "\"ci\"",
                "\"gate\"",
            ),
            (
                summary(4, "ci", &["raw-tcp"]),
                "transport set",
                "[\"raw-tcp\", \"sse\"]",
                "[\"raw-tcp\"]",
            ),
        ];
        for (body, what, b, c) in cases {
            let cand = write(d, "x.json", &body);
            let err = check(&base, &cand).expect_err(what);
            let text = err.to_string();
            assert!(text.contains(what), "{text}");
            assert!(
                text.contains(&format!("has {b}")) && text.contains(&format!("has {c}")),
                "{text}"
            );
            assert!(text.contains("b.json") && text.contains("x.json"), "{text}");
            assert!(err.is_bad_input());
        }
    }
}
