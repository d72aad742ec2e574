//! `compare --paired` on real run folders: four pairs of websocket and long-poll runs that
//! `scripts/ci-regression.sh` took side by side from one unchanged build on a busy 2-core VM
//! (tests/fixtures/paired/), unchanged and with regressions planted into the candidate's
//! figures; and the committed-baseline path turning advisory when the CPU differs.

// Helpers outside #[test] functions unwrap too: this whole file is test code.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use transport_bench::registry::TransportKind;

use serde_json::Value;
use transport_bench::compare::paired::{PairedComparison, compare_paired};
use transport_bench::compare::{CompareOptions, Metric, Verdict, run_compare};

#[path = "compare_support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paired")
}

/// Copies one side of the fixtures into `dir`, applying `edit` to every run of every summary.
fn planted(dir: &Path, side: &str, edit: impl Fn(&mut Value)) -> PathBuf {
    let out = dir.join(side);
    for entry in std::fs::read_dir(fixtures().join(side)).unwrap() {
        let from = entry.unwrap().path();
        let to = out.join(from.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        let mut summary: Value =
            serde_json::from_str(&std::fs::read_to_string(from.join("summary.json")).unwrap())
                .unwrap();
        for run in summary["runs"].as_array_mut().unwrap() {
            edit(run);
        }
        std::fs::write(to.join("summary.json"), summary.to_string()).unwrap();
    }
    out
}

fn verdict(c: &PairedComparison, transport: &str, metric: Metric) -> (Verdict, bool) {
    let run = c
        .runs
        .iter()
        .find(|r| r.transport.name() == transport)
        .unwrap();
    let m = run.metrics.iter().find(|m| m.metric == metric).unwrap();
    (m.judgement.verdict, m.gates)
}

fn scale(run: &mut Value, pointer: &str, factor: f64) {
    let v = run.pointer_mut(pointer).unwrap();
    // Integers (latency ns) stay integers: the schema says so.
    *v = match v.as_u64() {
        Some(n) => Value::from((n as f64 * factor).round() as u64),
        None => Value::from(v.as_f64().unwrap() * factor),
    };
}

#[test]
fn an_unchanged_build_is_not_flagged() {
    let c = compare_paired(
        &fixtures().join("base"),
        &fixtures().join("candidate"),
        &CompareOptions::default(),
    )
    .unwrap();
    assert!(c.pinned, "the gate scenario pins server and load apart");
    assert_eq!(c.runs.len(), 2);
    for run in &c.runs {
        assert_eq!(run.pairs, 4);
        for m in &run.metrics {
            assert_ne!(
                m.judgement.verdict,
                Verdict::Regressed,
                "{} {:?}",
                run.transport,
                m
            );
        }
    }
    assert!(!c.regressed());
    assert_eq!(c.exit().code(), 0);
}

#[test]
fn thirty_percent_more_server_cpu_in_one_transport_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let cand = planted(dir.path(), "candidate", |run| {
        if run["transport"] == "websocket" {
            scale(run, "/resources/server/cpu_ns_per_delivered", 1.3);
        }
    });
    let c = compare_paired(&fixtures().join("base"), &cand, &CompareOptions::default()).unwrap();
    assert_eq!(
        verdict(&c, "websocket", Metric::ServerCpu),
        (Verdict::Regressed, true)
    );
    assert_eq!(
        verdict(&c, "long-poll", Metric::ServerCpu).0,
        Verdict::WithinNoise
    );
    assert_eq!(c.exit().code(), 4);
}

#[test]
fn fifty_more_bytes_per_message_are_flagged_on_steady_and_batching_framing() {
    let dir = tempfile::tempdir().unwrap();
    let cand = planted(dir.path(), "candidate", |run| {
        let v = run["wire"]["overhead_bytes_per_msg"].as_f64().unwrap();
        run["wire"]["overhead_bytes_per_msg"] = Value::from(v + 75.0);
    });
    let c = compare_paired(&fixtures().join("base"), &cand, &CompareOptions::default()).unwrap();
    // websocket framing is fixed (exact rule); long-poll's varies with batching (ratio rule).
    assert_eq!(
        verdict(&c, "websocket", Metric::OverheadBytes),
        (Verdict::Regressed, true)
    );
    assert_eq!(
        verdict(&c, "long-poll", Metric::OverheadBytes),
        (Verdict::Regressed, true)
    );
}

#[test]
fn a_lost_message_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let cand = planted(dir.path(), "candidate", |run| run["lost"] = Value::from(1));
    let c = compare_paired(&fixtures().join("base"), &cand, &CompareOptions::default()).unwrap();
    assert_eq!(
        verdict(&c, "websocket", Metric::Lost),
        (Verdict::Regressed, true)
    );
}

#[test]
fn latency_gates_only_when_server_and_load_are_pinned_apart() {
    let dir = tempfile::tempdir().unwrap();
    let slower = |run: &mut Value| {
        for p in ["/latency_ns/p50", "/latency_ns/p99"] {
            scale(run, p, 4.0);
        }
        // Every pair usable: validity is about the generator, not what is tested here.
        run["valid"] = Value::Bool(true);
        run["saturated"] = Value::Bool(false);
    };
    let same = |run: &mut Value| {
        run["valid"] = Value::Bool(true);
        run["saturated"] = Value::Bool(false);
    };
    let base = planted(dir.path(), "base", same);
    let cand = planted(dir.path(), "candidate", slower);
    let c = compare_paired(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(
        verdict(&c, "websocket", Metric::P50),
        (Verdict::Regressed, true)
    );

    // The same figures from unpinned runs: reported, not gated.
    for side in [&base, &cand] {
        for entry in std::fs::read_dir(side).unwrap() {
            let file = entry.unwrap().path().join("summary.json");
            let mut s: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            s["environment"]["placement"]["server_cpus"] = Value::Null;
            std::fs::write(&file, s.to_string()).unwrap();
        }
    }
    let c = compare_paired(&base, &cand, &CompareOptions::default()).unwrap();
    assert!(!c.pinned);
    assert_eq!(
        verdict(&c, "websocket", Metric::P50),
        (Verdict::Regressed, false)
    );
    assert_eq!(c.exit().code(), 0);
}

#[test]
fn unequal_repetitions_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cand = planted(dir.path(), "candidate", |_| {});
    std::fs::remove_dir_all(cand.join("p04-websocket")).unwrap();
    let err =
        compare_paired(&fixtures().join("base"), &cand, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("base 4, candidate 3"), "{err}");
}

#[test]
fn a_baseline_from_another_cpu_is_advisory_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let base = synthetic::folder(dir.path(), "base", 3, |r| r);
    let worse = synthetic::folder(dir.path(), "worse", 3, |r| synthetic::Rep {
        overhead: r.overhead + 50.0,
        ..r
    });
    let file = base.join("summary.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    s["environment"]["cpu_model"] = Value::from("Some Other CPU");
    std::fs::write(&file, s.to_string()).unwrap();

    let advisory = CompareOptions {
        advisory_if_other_machine: true,
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &worse, &advisory).unwrap();
    assert!(out.regressed() && out.comparison.advisory());
    assert_eq!(out.exit_code(), 0);
    assert!(
        out.report_markdown.contains("advisory"),
        "{}",
        out.report_markdown
    );

    let strict = run_compare(&base, &worse, &CompareOptions::default()).unwrap();
    assert_eq!(strict.exit_code(), 4);

    // The same machine: the advisory option changes nothing.
    let same = run_compare(&worse, &worse, &advisory).unwrap();
    assert!(same.comparison.other_machine.is_none());
}

#[test]
fn the_binary_exits_4_on_a_paired_regression_and_writes_the_comment() {
    let dir = tempfile::tempdir().unwrap();
    let cand = planted(dir.path(), "candidate", |run| {
        if run["transport"] == "long-poll" {
            scale(run, "/resources/load/cpu_ns_per_delivered", 1.5);
        }
    });
    let bin = env!("CARGO_BIN_EXE_transport-bench");
    let compare = |cand: &Path, out: &Path| {
        std::process::Command::new(bin)
            .args(["compare", "--paired", "--quiet", "--out"])
            .arg(out)
            .arg(fixtures().join("base"))
            .arg(cand)
            .status()
            .unwrap()
            .code()
    };
    let out = dir.path().join("out");
    assert_eq!(compare(&cand, &out), Some(4));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.starts_with(transport_bench::compare::paired::report::MARKER));
    assert!(
        report.contains("| long-poll | load CPU per message |"),
        "{report}"
    );
    let verdicts: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(verdicts["regressed"], Value::Bool(true));

    assert_eq!(
        compare(&fixtures().join("candidate"), &dir.path().join("same")),
        Some(0)
    );
    // A side that is not a results folder at all: bad input.
    assert_eq!(
        compare(&dir.path().join("missing"), &dir.path().join("bad")),
        Some(2)
    );
}

#[test]
fn latency_is_judged_on_all_pairs_when_late_generators_leave_too_few() {
    let dir = tempfile::tempdir().unwrap();
    let late = |run: &mut Value| {
        run["valid"] = Value::Bool(false);
        run["saturated"] = Value::Bool(false);
    };
    let base = planted(dir.path(), "base", late);
    let cand = planted(dir.path(), "candidate", |run| {
        late(run);
        scale(run, "/latency_ns/p50", 10.0);
    });
    let c = compare_paired(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(
        verdict(&c, "websocket", Metric::P50),
        (Verdict::Regressed, true)
    );
    let run = c
        .runs
        .iter()
        .find(|r| r.transport == TransportKind::WebSocket)
        .unwrap();
    assert!(
        run.notes.iter().any(|n| n.contains("judged on all pairs")),
        "{:?}",
        run.notes
    );
}
