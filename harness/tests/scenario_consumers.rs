//! `[[consumers]]` in scenario files: classes load with their keys, shares expand into the
//! matrix with a tag each, and every bad value is rejected at its line and column with the
//! allowed values.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use transport_bench::scenario::consumers::{Assignment, Behaviour};

mod scenario_support;
use scenario_support::{BASE, assert_contains, bad, ok};

/// Line of the first line appended to [`BASE`].
fn line(n: usize) -> usize {
    BASE.lines().count() + n
}

#[test]
fn every_behaviour_loads_with_its_keys() {
    let s = ok(r#"
[[consumers]]
share = [0, 0.01, 0.1]
behaviour = "slow"
read_bytes_per_sec = "10KiB"
[[consumers]]
share = 0.1
behaviour = "paused"
pause_at = "1s"
pause_for = "10s"
allow_loss = true
[[consumers]]
share = 0.05
behaviour = "batch"
interval = "1s"
[[consumers]]
share = 0.05
behaviour = "offline"
at = "2s"
for = "5s"
"#);
    let b: Vec<Behaviour> = s.consumers.iter().map(|c| c.behaviour).collect();
    assert_eq!(
        b,
        vec![
            Behaviour::Slow {
                read_bytes_per_sec: 10 * 1024
            },
            Behaviour::Paused {
                pause_at: Duration::from_secs(1),
                pause_for: Duration::from_secs(10)
            },
            Behaviour::Batch {
                interval: Duration::from_secs(1)
            },
            Behaviour::Offline {
                at: Duration::from_secs(2),
                length: Duration::from_secs(5)
            },
        ]
    );
    assert!(s.consumers[1].allow_loss && !s.consumers[0].allow_loss);
    let runs = s.expand();
    // Three slow shares × one each of the others, per transport.
    assert_eq!(runs.len(), 3 * s.transports.len());
    assert_eq!(runs[1].tags["slow_share"], "0.01");
    assert_eq!(runs[1].tags["offline_share"], "0.05");
    assert_eq!(runs[1].consumer_shares, vec![0.01, 0.1, 0.05, 0.05]);
    let names: std::collections::BTreeSet<String> = runs.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), runs.len(), "every run has its own name");
}

#[test]
fn scenarios_without_classes_expand_as_before() {
    let runs = ok("").expand();
    assert!(runs.iter().all(|r| r.consumer_shares.is_empty()));
    assert!(
        runs.iter()
            .all(|r| !r.tags.keys().any(|k| k.ends_with("_share")))
    );
}

#[test]
fn assignment_is_deterministic_and_exact() {
    let a = Assignment::new(1000, &[0.1, 0.01]);
    assert_eq!(a.members(Some(0)).len(), 100);
    assert_eq!(a.members(Some(1)).len(), 10);
    assert_eq!(a, Assignment::new(1000, &[0.1, 0.01]));
}

#[test]
fn bad_shares() {
    let (l, c, m) =
        bad("[[consumers]]\nshare = 1.5\nbehaviour = \"slow\"\nread_bytes_per_sec = 1\n");
    assert_eq!((l, c), (line(2), 9));
    assert_contains(&m, &["share must be between 0 and 1", "1.5"]);
    let (l, _, m) = bad(
        "[[consumers]]\nshare = 0.6\nbehaviour = \"paused\"\npause_at = \"1s\"\npause_for = \"1s\"\n[[consumers]]\nshare = [0.1, 0.5]\nbehaviour = \"batch\"\ninterval = \"1s\"\n",
    );
    assert_eq!(l, line(7));
    assert_contains(&m, &["sum to 1.1", "over 1"]);
    let (_, _, m) = bad("[[consumers]]\nshare = []\nbehaviour = \"batch\"\ninterval = \"1s\"\n");
    assert_contains(&m, &["share must not be an empty list"]);
    let (_, _, m) = bad("[[consumers]]\nshare = \"x\"\nbehaviour = \"batch\"\ninterval = \"1s\"\n");
    assert_contains(&m, &["a share between 0 and 1"]);
}

#[test]
fn unknown_behaviour_names_the_allowed_ones() {
    let (l, c, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"sleepy\"\n");
    assert_eq!((l, c), (line(3), 13));
    assert_contains(
        &m,
        &["unknown behaviour `sleepy`", "slow, paused, batch, offline"],
    );
}

#[test]
fn missing_and_misplaced_keys() {
    let (_, _, m) = bad("[[consumers]]\nbehaviour = \"slow\"\nread_bytes_per_sec = 1\n");
    assert_contains(&m, &["missing required key `share`"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\n");
    assert_contains(&m, &["missing required key `behaviour`"]);
    let (l, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"slow\"\n");
    assert_eq!(l, line(3));
    assert_contains(&m, &["needs `read_bytes_per_sec`"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"paused\"\npause_at = \"1s\"\n");
    assert_contains(&m, &["a paused class needs `pause_for`"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"offline\"\nat = \"1s\"\n");
    assert_contains(&m, &["an offline class needs `for`"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\n");
    assert_contains(&m, &["a batch class needs `interval`"]);
    let (_, _, m) =
        bad("[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\ninterval = \"1s\"\nat = \"1s\"\n");
    assert_contains(&m, &["`at` applies to behaviour offline only"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\nintervall = \"1s\"\n");
    assert_contains(&m, &["unknown key `intervall`", "read_bytes_per_sec"]);
}

#[test]
fn bad_values() {
    let (l, c, m) =
        bad("[[consumers]]\nshare = 0.1\nbehaviour = \"slow\"\nread_bytes_per_sec = 0\n");
    assert_eq!((l, c), (line(4), 22));
    assert_contains(&m, &["read_bytes_per_sec must be > 0"]);
    let (_, _, m) =
        bad("[[consumers]]\nshare = 0.1\nbehaviour = \"slow\"\nread_bytes_per_sec = \"fast\"\n");
    assert_contains(&m, &["is not a size"]);
    let (l, _, m) = bad(
        "[[consumers]]\nshare = 0.1\nbehaviour = \"paused\"\npause_at = \"5s\"\npause_for = \"1s\"\n",
    );
    assert_eq!(l, line(4));
    assert_contains(&m, &["pause_at must be inside the measured window", "3s"]);
    let (_, _, m) =
        bad("[[consumers]]\nshare = 0.1\nbehaviour = \"offline\"\nat = \"1s\"\nfor = \"0s\"\n");
    assert_contains(&m, &["for must be > 0"]);
    let (_, _, m) = bad("[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\ninterval = \"0s\"\n");
    assert_contains(&m, &["interval must be > 0"]);
    let (_, _, m) = bad(
        "[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\ninterval = \"1s\"\n[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\ninterval = \"2s\"\n",
    );
    assert_contains(&m, &["a second `batch` class"]);
}

#[test]
fn classes_and_browser_runs_do_not_mix() {
    let (_, _, m) = bad(
        "transports = [\"sse\"]\n[browser]\nsubscribers = 1\n[[consumers]]\nshare = 0.1\nbehaviour = \"batch\"\ninterval = \"1s\"\n",
    );
    assert_contains(&m, &["Rust subscribers only"]);
}
