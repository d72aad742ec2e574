//! `compare` end to end on synthetic results folders: the verdicts the issue asks for, exit
//! codes, mismatch handling, and the exports validated against their published formats.

// Helpers outside #[test] functions unwrap too: this whole file is test code.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

#[path = "compare_support/real.rs"]
mod real;
#[path = "compare_support/schemas.rs"]
mod schemas;
#[path = "compare_support/synthetic.rs"]
mod synthetic;

use schemas::{bmf_schema, gab_schema};
use synthetic::{BASE, NAMES, Rep, folder, folder_with, run_json, summary_json};
use transport_bench::compare::{
    CompareError, CompareOptions, Metric, ThresholdOverride, Verdict, run_compare,
};

fn verdict_of(out: &transport_bench::compare::CompareOutcome, metric: Metric) -> Verdict {
    verdict_in(out, "websocket", metric)
}

fn verdict_in(
    out: &transport_bench::compare::CompareOutcome,
    transport: &str,
    metric: Metric,
) -> Verdict {
    let run = out
        .comparison
        .runs
        .iter()
        .find(|r| r.transport.name() == transport)
        .unwrap();
    run.metrics
        .iter()
        .find(|m| m.metric == metric)
        .unwrap()
        .verdict
}

#[test]
fn p99_25_percent_worse_with_clear_spread_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::Regressed);
    assert_eq!(verdict_of(&out, Metric::P50), Verdict::WithinNoise);
    assert_eq!(out.exit_code(), 4);
    assert!(out.report_markdown.contains("🔴 regressed"));
    assert!(out.report_markdown.contains("p99 latency +25.0%"));
}

#[test]
fn two_percent_inside_the_noise_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.02,
        p50: r.p50 * 1.02,
        throughput: r.throughput * 0.98,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    assert_eq!(verdict_of(&out, Metric::Throughput), Verdict::WithinNoise);
    assert_eq!(out.exit_code(), 0);
    assert!(out.report_markdown.contains("No regression"));
}

#[test]
fn one_byte_more_overhead_per_message_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        overhead: r.overhead + 1.0,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::OverheadBytes), Verdict::Regressed);
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn a_lost_message_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep { lost: 1, ..r });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::Lost), Verdict::Regressed);
}

#[test]
fn single_sample_says_it_has_no_noise_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let cand = folder(dir.path(), "cand", 1, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert!(out.report_markdown.contains("No noise estimate"));
    assert!(out.report_markdown.contains("(no noise estimate)"));
    // 25% is below the single-sample threshold (50%)...
    assert_eq!(out.exit_code(), 0);
    // ...which is configurable.
    let opts = CompareOptions {
        single_sample_threshold: 0.2,
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn command_line_thresholds_override_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let o: ThresholdOverride = "p99=30%".parse().unwrap();
    let opts = CompareOptions::default().with_overrides([o]);
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    assert!(out.report_markdown.contains("p99 30%"));
}

#[test]
fn a_machine_wide_slowdown_is_judged_against_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    // Everything 30% slower, the raw-TCP floor included: a loaded machine, not a transport.
    let cand = folder_with(dir.path(), "cand", 3, |_, _, r| Rep {
        p50: r.p50 * 1.3,
        p99: r.p99 * 1.3,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    // The floor's own move is shown, not gated.
    assert_eq!(verdict_in(&out, "raw-tcp", Metric::P99), Verdict::Regressed);
    assert_eq!(out.exit_code(), 0, "{}", out.report_markdown);
    assert!(out.report_markdown.contains("🟠 floor moved (not gated)"));
    assert!(out.report_markdown.contains("ratio to raw-tcp floor"));
    // Judged on absolute values, both runs regress.
    let opts = CompareOptions {
        normalize_to_floor: false,
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::Regressed);
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn a_faster_floor_alone_is_not_a_transport_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    // Only the floor got 30% faster (the machine was calmer for it): websocket's ratio to the
    // floor worsens, but its absolute figures did not move, so nothing counts.
    let cand = folder_with(dir.path(), "cand", 3, |t, _, r| {
        if t == "raw-tcp" {
            Rep {
                p50: r.p50 / 1.3,
                p99: r.p99 / 1.3,
                ..r
            }
        } else {
            r
        }
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::WithinNoise);
    assert_eq!(out.exit_code(), 0);
    assert!(
        out.report_markdown
            .contains("disagree on p50 latency, p99 latency")
    );
}

#[test]
fn saturation_in_most_candidate_repetitions_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let saturate = |reps: usize| {
        move |t: &str, i: usize, r: Rep| Rep {
            saturated: t == "websocket" && i < reps,
            ..r
        }
    };
    let once = folder_with(dir.path(), "once", 3, saturate(1));
    let out = run_compare(&base, &once, &CompareOptions::default()).unwrap();
    assert_eq!(
        out.exit_code(),
        0,
        "one saturated repetition of three is noise"
    );
    assert!(out.report_markdown.contains("candidate saturated in 1/3"));
    let twice = folder_with(dir.path(), "twice", 3, saturate(2));
    let out = run_compare(&base, &twice, &CompareOptions::default()).unwrap();
    assert_eq!(out.exit_code(), 4);
}

#[test]
fn scenario_compare_table_sets_thresholds_under_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 5, |r| r);
    let cand = folder(dir.path(), "cand", 5, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let file = cand.join("summary.json");
    let mut s = read_json(&file);
    s["scenario"]["effective"]["compare"] = json!({"p99": "30%", "p99.9": "40%"});
    std::fs::write(&file, s.to_string()).unwrap();
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    assert_eq!(out.exit_code(), 0);
    let cli: ThresholdOverride = "p99=10%".parse().unwrap();
    let out = run_compare(
        &base,
        &cand,
        &CompareOptions::default().with_overrides([cli]),
    )
    .unwrap();
    assert_eq!(verdict_of(&out, Metric::P99), Verdict::Regressed);
    s["scenario"]["effective"]["compare"] = json!({"p98": "30%"});
    std::fs::write(&file, s.to_string()).unwrap();
    let err = run_compare(&base, &cand, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
}

#[test]
fn mismatched_runs_are_bad_input_naming_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let cand = dir.path().join("cand.json");
    // The same transports (the same experiment), but other runs of them.
    let runs = vec![
        run_json("payload=1000,transport=raw-tcp", "raw-tcp", 0, BASE),
        run_json("payload=1000,transport=websocket", "websocket", 0, BASE),
    ];
    std::fs::write(&cand, summary_json(runs).to_string()).unwrap();
    let err = run_compare(&base, &cand, &CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Mismatch { .. }), "{err}");
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(text.contains("only in baseline: [payload=100,rate=10000,transport=raw-tcp;"));
    assert!(text.contains(
        "only in candidate: [payload=1000,transport=raw-tcp; payload=1000,transport=websocket]"
    ));
    // Another transport set is another experiment: refused before any run is paired.
    let one = dir.path().join("one.json");
    let runs = vec![run_json(NAMES[0].0, "raw-tcp", 0, BASE)];
    std::fs::write(&one, summary_json(runs).to_string()).unwrap();
    let err = run_compare(&base, &one, &CompareOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("transport set differs"), "{text}");
    assert!(
        text.contains("[\"raw-tcp\", \"websocket\"]") && text.contains("has [\"raw-tcp\"]"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn unreadable_or_foreign_input_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 1, |r| r);
    let missing = dir.path().join("nope");
    let err = run_compare(&base, &missing, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let err = run_compare(&base, &garbage, &CompareOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let future = dir.path().join("future.json");
    let mut s = summary_json(vec![run_json(NAMES[0].0, "raw-tcp", 0, BASE)]);
    s["schema_version"] = json!(999);
    std::fs::write(&future, s.to_string()).unwrap();
    let err = run_compare(&base, &future, &CompareOptions::default()).unwrap_err();
    // Against a baseline of this build's schema: refused as another experiment, both named.
    assert!(
        matches!(
            err,
            CompareError::Incomparable {
                what: "schema_version",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("has 999"), "{err}");
    assert_eq!(err.exit_code(), 2, "{err}");
    // Both sides from a future build: the same experiment, but not one this build reads.
    let err = run_compare(&future, &future, &CompareOptions::default()).unwrap_err();
    assert!(matches!(err, CompareError::Schema { .. }), "{err}");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn exports_validate_against_their_published_formats() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let out_dir = dir.path().join("out");
    let opts = CompareOptions {
        out_dir: Some(out_dir.clone()),
        ..CompareOptions::default()
    };
    let out = run_compare(&base, &cand, &opts).unwrap();
    assert_eq!(out.files.len(), 5);

    let bmf = read_json(&out_dir.join("bencher.json"));
    let errors: Vec<String> = jsonschema::validator_for(&bmf_schema())
        .unwrap()
        .iter_errors(&bmf)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let p99 = &bmf[NAMES[1].0]["latency-p99"];
    assert!(p99["lower_value"].as_f64().unwrap() <= p99["value"].as_f64().unwrap());
    assert!(p99["upper_value"].as_f64().unwrap() >= p99["value"].as_f64().unwrap());
    assert_eq!(bmf.as_object().unwrap().len(), 2);

    let gab = jsonschema::validator_for(&gab_schema()).unwrap();
    for (file, expected) in [
        ("github-action-benchmark-smaller.json", 2 * 5),
        ("github-action-benchmark-bigger.json", 2),
    ] {
        let v = read_json(&out_dir.join(file));
        let errors: Vec<String> = gab.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
        assert_eq!(v.as_array().unwrap().len(), expected, "{file}");
    }

    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("](compare.png)"));
    let png = image::open(out_dir.join("compare.png")).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), transport_bench::compare::chart::SIZE);
    let coloured = png
        .pixels()
        .filter(|p| p.0 == [214, 39, 40]) // the regressed candidate bar
        .count();
    assert!(coloured > 100, "regressed bar not drawn ({coloured} px)");
}

#[test]
fn chart_data_pairs_runs_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let cand = folder(dir.path(), "cand", 3, |r| Rep {
        overhead: 13.0,
        ..r
    });
    let out = run_compare(&base, &cand, &CompareOptions::default()).unwrap();
    let panels = transport_bench::compare::chart::panels(&out.comparison);
    assert_eq!(panels.len(), Metric::UNPAIRED.len());
    let overhead = panels
        .iter()
        .find(|p| p.metric == Metric::OverheadBytes)
        .unwrap();
    let summary: Vec<(f64, f64, Verdict)> = overhead
        .bars
        .iter()
        .map(|b| (b.baseline, b.candidate, b.verdict))
        .collect();
    assert_eq!(
        summary,
        vec![
            (12.0, 12.0, Verdict::WithinNoise),
            (12.0, 13.0, Verdict::Regressed)
        ]
    );
    assert!(overhead.bars.iter().all(|b| b.gates));
}

#[test]
#[ignore = "writes a sample report to $COMPARE_SAMPLE_DIR for eyeballing"]
fn sample_report() {
    let dir = PathBuf::from(std::env::var("COMPARE_SAMPLE_DIR").unwrap());
    let base = folder(&dir, "base", 3, |r| r);
    let cand = folder(&dir, "cand", 3, |r| Rep {
        p99: r.p99 * 1.25,
        overhead: 13.0,
        ..r
    });
    let opts = CompareOptions {
        out_dir: Some(dir.join("out")),
        ..CompareOptions::default()
    };
    run_compare(&base, &cand, &opts).unwrap();
}
