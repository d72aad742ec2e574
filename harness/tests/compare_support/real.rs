//! `compare` against real things: the committed baseline (real runner output) and the real
//! binary's exit codes.

use std::path::Path;
use transport_bench::registry::TransportKind;

use transport_bench::compare::{CompareOptions, run_compare};

use super::synthetic::{Rep, folder};

#[test]
fn the_committed_baseline_reads_and_matches_itself() {
    // Real runner output: the contract `compare` reads is the one `run` writes.
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/baseline");
    if !baseline.join("summary.json").exists() {
        return; // not created yet (fresh checkout before the first refresh)
    }
    let out = run_compare(&baseline, &baseline, &CompareOptions::default()).unwrap();
    assert_eq!(out.exit_code(), 0);
    let runs = &out.comparison.runs;
    assert!(runs.iter().any(|r| r.transport == TransportKind::RawTcp));
    for r in runs {
        assert!(
            r.repetitions.0 >= 2,
            "{}: the baseline needs repetitions",
            r.name
        );
        let floored = r.metrics.iter().any(|m| m.vs_floor.is_some());
        assert_eq!(floored, r.transport != TransportKind::RawTcp, "{}", r.name);
        assert!(r.metrics.iter().all(|m| m.change == 0.0), "{}", r.name);
    }
}

#[test]
fn the_binary_maps_outcomes_to_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let base = folder(dir.path(), "base", 3, |r| r);
    let worse = folder(dir.path(), "worse", 3, |r| Rep {
        p99: r.p99 * 1.25,
        ..r
    });
    let bin = env!("CARGO_BIN_EXE_transport-bench");
    let status = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(bin)
            .arg("compare")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = status(&[base.as_os_str(), base.as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("No regression"), "{stdout}");
    let (code, stdout) = status(&[base.as_os_str(), worse.as_os_str()]);
    assert_eq!(code, Some(4), "{stdout}");
    let (code, _) = status(&[
        base.as_os_str(),
        worse.as_os_str(),
        "--threshold".as_ref(),
        "p99=40%".as_ref(),
        "--threshold".as_ref(),
        "p99.9=40%".as_ref(), // the synthetic p99.9 moves with p99
    ]);
    assert_eq!(code, Some(0));
    let missing = dir.path().join("missing");
    let (code, _) = status(&[base.as_os_str(), missing.as_os_str()]);
    assert_eq!(code, Some(2));
    let (code, _) = status(&[
        base.as_os_str(),
        base.as_os_str(),
        "--threshold".as_ref(),
        "p98=1%".as_ref(),
    ]);
    assert_eq!(code, Some(2));
}
