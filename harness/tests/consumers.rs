//! Consumer classes over real sockets, for every transport we serve ourselves: a slow class really lags (its
//! backlog grows while it is throttled) and still gets everything once the window ends; a
//! paused class catches up; an offline class reconnects and resumes; the full-speed class is
//! reported beside them.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use transport_bench::registry::TransportKind;
use transport_bench::results::RunResult;
use transport_bench::runner::{self, Progress};
use transport_bench::scenario::{self, RunSpec, Scenario};

/// 20 subscribers on 2 topics, 100 msg/s of 1 KiB per topic (≈100 KiB/s per subscriber).
fn scenario(transport: TransportKind, class: &str) -> (Scenario, RunSpec) {
    let text = format!(
        "name = \"t\"\ndescription = \"test\"\ntransports = [\"{transport}\"]\nbaseline = false\n\
         warmup = \"300ms\"\nduration = \"2s\"\ndrain_timeout = \"20s\"\npayload = \"1KiB\"\n\
         rate_per_sec = 200\npublishers = 2\ntopics = 2\nsubscribers = 20\n\
         [server]\nmode = \"in-process\"\n[[consumers]]\nshare = 0.1\n{class}\n"
    );
    let s = scenario::load_str(&text, Path::new("test.toml")).expect("test scenario is valid");
    let spec = s.expand().remove(0);
    (s, spec)
}

fn run(transport: TransportKind, class: &str) -> RunResult {
    let (s, spec) = scenario(transport, class);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cell = rt.block_on(runner::run_cell(&runner::RunCtx::new(
        &s,
        &spec,
        "consumers",
        &Progress::new(true),
    )));
    cell.result
}

/// The run delivered everything to every class, and names both classes.
fn assert_whole(r: &RunResult, behaviour: &str) {
    assert_eq!(
        (r.status.as_str(), r.delivery.lost, r.delivery.duplicated),
        ("ok", 0, 0),
        "{}: {:?}",
        r.name,
        r.failures
    );
    let names: Vec<&str> = r.consumers.iter().map(|c| c.behaviour.as_str()).collect();
    assert_eq!(names, ["full", behaviour], "{}", r.name);
    let [full, class] = [&r.consumers[0], &r.consumers[1]];
    assert_eq!((full.subscribers, class.subscribers), (18, 2));
    assert_eq!(class.subscriber_ids.len(), 2);
    assert_eq!(full.delivered + class.delivered, r.delivery.delivered);
    assert_eq!(class.caught_up, Some(2), "{}: {class:?}", r.name);
    assert!(class.catch_up_ns.is_some(), "{}: {class:?}", r.name);
    assert!(full.latency_ns.is_some() && class.latency_ns.is_some());
}

#[test]
fn a_slow_class_lags_and_catches_up_on_every_transport() {
    for &t in TransportKind::ALL.iter().filter(|k| k.runs_by_default()) {
        // 10 KiB/s against ≈100 KiB/s: over the 2 s window the backlog grows by ≈90 msg/s.
        let r = run(t, "behaviour = \"slow\"\nread_bytes_per_sec = \"10KiB\"");
        assert_whole(&r, "slow");
        let (full, slow) = (&r.consumers[0], &r.consumers[1]);
        let lag = slow.max_lag_messages.unwrap();
        // A lag that did not grow while throttled could not reach half of 2 s × 90 msg/s.
        assert!(lag >= 90, "{t}: slow lag {lag} messages did not grow");
        assert!(
            full.max_lag_messages.unwrap() < lag / 4,
            "{t}: full-speed subscribers lag {:?} like the slow ones ({lag})",
            full.max_lag_messages
        );
        assert!(slow.max_lag_ns.unwrap() > 500_000_000, "{t}: {slow:?}");
    }
}

#[test]
fn a_paused_class_catches_up_after_its_pause_on_every_transport() {
    for &t in TransportKind::ALL.iter().filter(|k| k.runs_by_default()) {
        let r = run(
            t,
            "behaviour = \"paused\"\npause_at = \"500ms\"\npause_for = \"1s\"",
        );
        assert_whole(&r, "paused");
        let paused = &r.consumers[1];
        // 100 msg/s for a 1 s pause: about 100 messages wait.
        let lag = paused.max_lag_messages.unwrap();
        assert!((60..=200).contains(&lag), "{t}: paused lag {lag}");
        assert!(paused.max_lag_ns.unwrap() >= 900_000_000, "{t}: {paused:?}");
        // It caught up after the pause, inside the window, not at its end.
        assert!(paused.catch_up_ns.unwrap() < 400_000_000, "{t}: {paused:?}");
    }
}

#[test]
fn an_offline_class_reconnects_and_resumes_on_every_transport() {
    for &t in TransportKind::ALL.iter().filter(|k| k.runs_by_default()) {
        let r = run(
            t,
            "behaviour = \"offline\"\nat = \"500ms\"\nfor = \"700ms\"",
        );
        assert_whole(&r, "offline");
        let offline = &r.consumers[1];
        assert!(offline.max_lag_messages.unwrap() >= 40, "{t}: {offline:?}");
    }
}

#[test]
fn a_batch_class_reads_once_per_interval() {
    for t in [TransportKind::WebSocket, TransportKind::PullLog] {
        let r = run(t, "behaviour = \"batch\"\ninterval = \"500ms\"");
        assert_whole(&r, "batch");
        let batch = &r.consumers[1];
        // Reading every 500 ms, its oldest message waited close to that long.
        let age = batch.max_lag_ns.unwrap();
        assert!(
            (350_000_000..1_500_000_000).contains(&age),
            "{t}: {batch:?}"
        );
        let full_p99 = r.consumers[0].latency_ns.unwrap().p99;
        assert!(batch.latency_ns.unwrap().p50 > full_p99, "{t}: {batch:?}");
    }
}
