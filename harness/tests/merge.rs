//! `run --shard` and `merge` through the real binary: merged histograms are the exact sum of the
//! shards' (synthetic shard folders with known histograms); a mismatched, duplicated or missing
//! shard exits 2 saying which; two real shard runs merge into a summary that matches the schema.

#![allow(clippy::unwrap_used)]

#[path = "charts/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use transport_bench::merge::read_interval_log;
use transport_bench::results::shards::ShardRecord;
use transport_bench::results::write;
use transport_bench::results::{Summary, summary::IntervalPoint};
use transport_bench::runner::recorder::latency_histogram;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");

fn bin(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn validate(summary: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(summary)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
}

/// A deterministic histogram: `n` values spread from `lo` ns upward, seeded by `seed`.
fn known(seed: u64, n: u64, lo: u64) -> Histogram<u64> {
    let mut h = latency_histogram();
    let mut x = seed;
    for _ in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        h.record(lo + (x >> 33) % 5_000_000).unwrap();
    }
    h
}

fn record(index: u32, count: u32) -> ShardRecord {
    ShardRecord {
        index,
        count,
        host: format!("host-{index}"),
        rule: "test".into(),
        applied: true,
        topics: vec![index],
        share: Vec::new(),
        start_at: None,
        clock_offset_ns: None,
    }
}

/// Writes a synthetic shard folder whose run `j` has second histograms `seconds[j]`, its interval
/// log starting at `start`; returns the folder.
fn shard_dir(
    root: &Path,
    name: &str,
    rec: ShardRecord,
    seconds: &[Vec<Histogram<u64>>],
    start: SystemTime,
) -> PathBuf {
    let dir = root.join(name);
    let mut s: Summary = fixture::summary(&[Some(1_000.0)]);
    s.shard = Some(rec);
    for (run, secs) in s.runs.iter_mut().zip(seconds) {
        let mut whole = latency_histogram();
        for h in secs {
            whole.add(h).unwrap();
        }
        run.files = write::write_run_files(&dir, &run.name, &whole, secs, start).unwrap();
        run.timeseries = Vec::new();
    }
    write::write_summary(&dir, &s).unwrap();
    dir
}

fn read(dir: &Path) -> (serde_json::Value, Summary) {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

#[test]
fn merged_histograms_are_the_exact_sum_of_the_shards() {
    let root = tempfile::tempdir().unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let runs = fixture::summary(&[Some(1_000.0)]).runs.len();
    let a: Vec<Vec<Histogram<u64>>> = (0..runs as u64)
        .map(|j| (0..3).map(|s| known(j * 10 + s, 500, 1_000)).collect())
        .collect();
    let b: Vec<Vec<Histogram<u64>>> = (0..runs as u64)
        .map(|j| {
            (0..3)
                .map(|s| known(j * 10 + s + 99, 700, 40_000))
                .collect()
        })
        .collect();
    // Shard 1's window began one second later by the wall clock.
    let d1 = shard_dir(
        root.path(),
        "b",
        record(1, 2),
        &b,
        t0 + Duration::from_secs(1),
    );
    let d0 = shard_dir(root.path(), "a", record(0, 2), &a, t0);
    let out = root.path().join("merged");
    let o = bin(&[
        "merge",
        d1.to_str().unwrap(),
        d0.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let (json, merged) = read(&out);
    validate(&json);
    let (_, shard0) = read(&d0);
    let (_, shard1) = read(&d1);
    for (j, run) in merged.runs.iter().enumerate() {
        let mut expected = latency_histogram();
        for h in a[j].iter().chain(&b[j]) {
            expected.add(h).unwrap();
        }
        let got =
            write::read_histogram(&out.join(run.files.latency_hdr.as_ref().unwrap())).unwrap();
        assert_eq!(got, expected, "run {}: whole histogram", run.name);
        assert_eq!(run.latency.latency_ns.count, expected.len());
        assert_eq!(run.latency.latency_ns.p99, expected.value_at_quantile(0.99));
        assert_eq!(run.latency.latency_ns.max, expected.max());

        // Seconds aligned by wall clock: shard 1's second i is merged second i + 1.
        let log = read_interval_log(&out.join(&run.files.interval_log)).unwrap();
        assert_eq!(log.start, t0);
        assert_eq!(log.seconds.len(), 4);
        for k in 0..4 {
            let mut want = latency_histogram();
            if k < 3 {
                want.add(&a[j][k]).unwrap();
            }
            if k >= 1 {
                want.add(&b[j][k - 1]).unwrap();
            }
            assert_eq!(log.seconds[k], want, "run {} second {k}", run.name);
            let p: IntervalPoint = run.timeseries[k];
            assert_eq!(p.delivered, want.len());
            assert_eq!(p.p99_ns, want.value_at_quantile(0.99));
        }
        let (r0, r1) = (&shard0.runs[j], &shard1.runs[j]);
        assert_eq!(
            run.delivery.delivered,
            r0.delivery.delivered + r1.delivery.delivered
        );
        assert_eq!(
            run.delivery.published,
            r0.delivery.published + r1.delivery.published
        );
        assert_eq!(
            run.traffic.wire.client.written,
            r0.traffic.wire.client.written + r1.traffic.wire.client.written
        );
        // Unmeasured on any shard stays unmeasured (null), never a partial sum.
        let server =
            |r: &transport_bench::results::RunResult| r.traffic.wire.server.map(|w| w.read);
        assert_eq!(server(run), server(r0).zip(server(r1)).map(|(a, b)| a + b));
    }
    let m = merged.merge.unwrap();
    assert_eq!(m.count, 2);
    assert_eq!(m.shards.len(), 2);
    assert_eq!(m.shards[0].shard.host, "host-0");
    assert!(
        merged.environment.hostname.contains("host-0")
            && merged.environment.hostname.contains("host-1")
    );
    assert!(out.join("report.md").is_file());
}

/// Expects exit 2 and every fragment in stderr.
fn refused(args: &[&str], expect: &[&str]) {
    let o = bin(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: expected `{e}` in: {err}");
    }
}

#[test]
fn mismatched_duplicate_and_missing_shards_exit_2_saying_which() {
    let root = tempfile::tempdir().unwrap();
    let t0 = SystemTime::now();
    let runs = fixture::summary(&[Some(1_000.0)]).runs.len();
    let secs: Vec<Vec<Histogram<u64>>> = (0..runs as u64)
        .map(|j| vec![known(j, 10, 1_000)])
        .collect();
    let s0 = shard_dir(root.path(), "s0", record(0, 3), &secs, t0);
    let s1 = shard_dir(root.path(), "s1", record(1, 3), &secs, t0);
    let s1b = shard_dir(root.path(), "s1-again", record(1, 3), &secs, t0);
    let s2 = shard_dir(root.path(), "s2", record(2, 3), &secs, t0);
    let other_n = shard_dir(root.path(), "other-n", record(2, 4), &secs, t0);
    let other = shard_dir(root.path(), "other", record(2, 3), &secs, t0);
    let (mut json, _) = read(&other);
    json["scenario"]["effective"]["p99_target"] = "20ms".into();
    std::fs::write(other.join("summary.json"), json.to_string()).unwrap();
    let whole = shard_dir(root.path(), "whole", record(0, 1), &secs, t0);
    let (mut json, _) = read(&whole);
    json.as_object_mut().unwrap().remove("shard");
    std::fs::write(whole.join("summary.json"), json.to_string()).unwrap();

    let p = |d: &PathBuf| d.to_str().unwrap().to_owned();
    let out = p(&root.path().join("out"));
    refused(
        &["merge", &p(&s0), &p(&s1), &p(&s1b), &p(&s2), "--out", &out],
        &["shard 1/3 given twice", "s1-again"],
    );
    refused(
        &["merge", &p(&s0), &p(&s2), "--out", &out],
        &["missing shard 1 of 3", "given: 0, 2"],
    );
    refused(
        &["merge", &p(&s0), &p(&s1), &p(&other), "--out", &out],
        &["mismatched scenarios", "effective.p99_target", "other"],
    );
    refused(
        &["merge", &p(&s0), &p(&s1), &p(&other_n), "--out", &out],
        &["shard counts differ", "2/4"],
    );
    refused(
        &["merge", &p(&whole), "--out", &out],
        &["not a shard's results", "--shard I/N"],
    );
    refused(
        &["merge", &p(&s0), &p(&s1), &p(&s2), "--out", &p(&s0)],
        &["already holds results"],
    );
    assert!(!root.path().join("out").join("summary.json").exists());
    // The complete set merges.
    let o = bin(&["merge", &p(&s2), &p(&s0), &p(&s1), "--out", &out]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

const TWO_TOPICS: &str = r#"name = "two-topics"
description = "raw-tcp, two topics, one second"
transports = ["raw-tcp"]
warmup = "200ms"
duration = "1s"
drain_timeout = "2s"
payload = "100B"
rate_per_sec = 1000
publishers = 2
topics = 2
subscribers = [2]
"#;

#[test]
fn bad_shard_options_exit_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("two.toml");
    std::fs::write(&scenario, TWO_TOPICS).unwrap();
    let s = scenario.to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    refused(
        &["run", s, "--out", o, "-q", "--shard", "2/2"],
        &["shard index 2 must be below the shard count 2"],
    );
    refused(
        &["run", s, "--out", o, "-q", "--shard", "0/0"],
        &["at least 1"],
    );
    refused(
        &["run", s, "--out", o, "-q", "--shard", "one/2"],
        &["expected I/N"],
    );
    refused(
        &["run", s, "--out", o, "-q", "--shard", "0/3"],
        &["two.toml", "at least 3 topics", "has 2"],
    );
    refused(
        &["run", s, "--out", o, "-q", "--start-at", "noon"],
        &["RFC 3339"],
    );
    refused(
        &[
            "run",
            s,
            "--out",
            o,
            "-q",
            "--start-at",
            "2020-01-01T00:00:00Z",
        ],
        &["already passed"],
    );
    assert!(!out.join("summary.json").exists());
}

/// Both shards run at once, as on two hosts, and start warm-up at one instant.
#[test]
fn two_real_shard_runs_merge_into_a_valid_summary() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("two.toml");
    std::fs::write(&scenario, TWO_TOPICS).unwrap();
    // Far enough ahead for both processes to start their servers and connect.
    let at =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(4)).to_string();
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("shard-{i}")))
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            Command::new(BIN)
                .args(["run", scenario.to_str().unwrap(), "--out"])
                .arg(out)
                .args(["-q", "--shard", &format!("{i}/2"), "--start-at", &at])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let (json, s) = read(&dirs[i]);
        validate(&json);
        let rec = s.shard.unwrap();
        assert_eq!((rec.index, rec.count), (i as u32, 2));
        assert!(rec.applied, "the runner ran only the share");
        assert_eq!(rec.topics, vec![i as u32]);
        assert_eq!(rec.start_at.as_deref(), Some(at.as_str()));
        let offset = rec.clock_offset_ns.expect("measured when warm-up began");
        assert!((0..2_000_000_000).contains(&offset), "offset {offset} ns");
        assert_eq!((rec.share[0].publishers, rec.share[0].subscribers), (1, 1));
        // Only the share ran: one subscriber, half the offered rate, nothing lost.
        let r = &s.runs[0];
        assert_eq!((r.subscribers, r.offered_rate), (1, Some(500.0)));
        assert_eq!(
            (r.delivery.lost, r.delivery.delivered),
            (0, r.delivery.published)
        );
    }
    let out = dir.path().join("merged");
    let o = bin(&[
        "merge",
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (json, merged) = read(&out);
    validate(&json);
    let shards: Vec<Summary> = dirs.iter().map(|d| read(d).1).collect();
    let run = &merged.runs[0];
    assert_eq!(
        run.delivery.delivered,
        shards[0].runs[0].delivery.delivered + shards[1].runs[0].delivery.delivered
    );
    assert_eq!(run.delivery.lost, 0);
    assert_eq!((run.subscribers, run.offered_rate), (2, Some(1000.0)));
    // Both windows began at the instant, so their per-second figures line up.
    let starts: Vec<String> = merged.merge.as_ref().unwrap().shards[..]
        .iter()
        .map(|m| m.runs[0].interval_log_start.clone().unwrap())
        .collect();
    let t = |s: &str| humantime::parse_rfc3339(s).unwrap();
    let apart = t(&starts[0])
        .duration_since(t(&starts[1]))
        .unwrap_or_else(|e| e.duration());
    assert!(apart < Duration::from_millis(500), "windows {starts:?}");
    let whole = write::read_histogram(&out.join(run.files.latency_hdr.as_ref().unwrap())).unwrap();
    assert_eq!(
        whole.len(),
        shards[0].runs[0].latency.latency_ns.count + shards[1].runs[0].latency.latency_ns.count
    );
    assert!(out.join("report.md").is_file());
}

#[test]
fn merging_one_shard_reproduces_its_figures() {
    // A single shard (0/1) merged alone must give back its own counts and the same derived
    // wire figures: the merge's wire arithmetic is the run's.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("two.toml");
    std::fs::write(&scenario, TWO_TOPICS).unwrap();
    let shard = dir.path().join("s");
    let o = bin(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        shard.to_str().unwrap(),
        "-q",
        "--shard",
        "0/1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.path().join("m");
    let o = bin(&[
        "merge",
        shard.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (a, b) = (read(&shard).1, read(&out).1);
    let (x, y) = (&a.runs[0], &b.runs[0]);
    assert_eq!(
        (x.delivery.published, x.delivery.delivered, x.delivery.lost),
        (y.delivery.published, y.delivery.delivered, y.delivery.lost)
    );
    assert_eq!(x.latency.latency_ns, y.latency.latency_ns);
    assert_eq!(x.latency.latency_spectrum, y.latency.latency_spectrum);
    assert_eq!(x.traffic.wire, y.traffic.wire);
    assert_eq!(x.timeseries, y.timeseries);
    let merge = b.merge.unwrap();
    assert!(merge.bounds.is_empty());
    // Resources stay listed per host, as the shard measured them.
    assert_eq!(merge.shards[0].runs[0].resources, x.cost.resources);
    assert!(x.cost.resources.server.available && x.cost.resources.load.host.is_some());
}
