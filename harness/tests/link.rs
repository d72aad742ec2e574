//! The link emulator and the fault schedule, over real loopback sockets: faults do what they
//! say, scenarios reject bad `[link]` / `[[faults]]` tables with located errors, and a
//! connection reset mid-run loses nothing for transports that resume. The emulator's timing
//! (round trip, jitter, bandwidth) is `link_timing.rs`'s, in a binary of its own.

// Helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_bench::link::{FaultKind, LinkConfig, LinkProxy, Side};
use transport_bench::registry::TransportKind;
use transport_bench::results::RunStatus;
use transport_bench::runner::{self, Progress};
use transport_bench::scenario::{self, ScenarioError};

mod link_support;

use link_support::{echo_server, link, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_resets_only_the_targeted_side() {
    let server = echo_server().await;
    let proxy = LinkProxy::start(server, LinkConfig::default())
        .await
        .unwrap();
    let mut p = TcpStream::connect(proxy.addr(Side::Publishers))
        .await
        .unwrap();
    let mut s = TcpStream::connect(proxy.addr(Side::Subscribers))
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    for c in [&mut p, &mut s] {
        c.write_all(b"x").await.unwrap();
        within("echo", c.read_exact(&mut buf)).await.unwrap();
    }
    proxy.cut(Side::Subscribers);
    let r = within("read after cut", s.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "a cut connection must end: {r:?}"
    );
    p.write_all(b"y").await.unwrap();
    within("publisher still relayed", p.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"y");
    assert_eq!(proxy.stats().reset, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_holds_traffic_then_delivers_it() {
    let server = echo_server().await;
    let proxy = LinkProxy::start(server, LinkConfig::default())
        .await
        .unwrap();
    let mut c = TcpStream::connect(proxy.addr(Side::Subscribers))
        .await
        .unwrap();
    let mut buf = [0u8; 3];
    c.write_all(b"one").await.unwrap();
    within("before", c.read_exact(&mut buf)).await.unwrap();
    proxy.blackhole(Duration::from_millis(300));
    let t = Instant::now();
    c.write_all(b"two").await.unwrap();
    within("after", c.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"two");
    assert!(
        t.elapsed() >= Duration::from_millis(280),
        "held only {:?}",
        t.elapsed()
    );
}

// ---- scenario tables ----

const BASE: &str = "name = \"t\"\ndescription = \"d\"\nduration = \"3s\"\n";

fn load(extra: &str) -> Result<scenario::Scenario, ScenarioError> {
    scenario::load_str(&format!("{BASE}{extra}"), Path::new("s.toml"))
}

fn error(extra: &str) -> (usize, usize, String) {
    match load(extra) {
        Err(ScenarioError::Invalid {
            line, col, message, ..
        }) => (line, col, message),
        other => panic!("expected an error for {extra:?}, got {other:?}"),
    }
}

#[test]
fn link_and_faults_default_to_nothing_and_parse() {
    let s = load("").unwrap();
    assert!(s.link.is_none() && s.faults.is_empty());
    let s = load(
        "[link]\nrtt = \"50ms\"\njitter = \"5ms\"\nbandwidth = \"10Mbit\"\n\
         [[faults]]\nat = \"2s\"\nkind = \"blackhole\"\nduration = \"500ms\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"reset-connections\"\ntarget = \"subscribers\"\n",
    )
    .unwrap();
    assert_eq!(s.link, Some(link(50, 5, Some(10_000_000))));
    assert_eq!(s.faults.len(), 2);
    assert_eq!(s.faults[0].at, Duration::from_secs(1), "sorted by time");
    assert_eq!(s.faults[1].duration, Duration::from_millis(500));
}

#[test]
fn bad_link_tables_are_located() {
    let (line, col, m) = error("[link]\nrtt = \"50ms\"\nbandwidth = \"10MB\"\n");
    assert_eq!((line, col), (6, 13));
    assert!(m.contains("not a bandwidth") && m.contains("10Mbit"), "{m}");
    let (line, _, m) = error("[link]\nrtt = \"10ms\"\njitter = \"20ms\"\n");
    assert_eq!(line, 6);
    assert!(m.contains("jitter must be <= rtt"), "{m}");
    let (line, _, m) = error("[link]\nlatency = \"10ms\"\n");
    assert_eq!(line, 5);
    assert!(
        m.contains("unknown key `latency`") && m.contains("rtt"),
        "{m}"
    );
    let (_, _, m) = error("[link]\nbandwidth = \"10bit\"\n");
    assert!(m.contains("at least 1kbit"), "{m}");
    let (line, col, m) = error("[link]\nrtt = \"50ms\"\napplies_to = \"consumers\"\n");
    assert_eq!((line, col), (6, 14));
    assert!(
        m.contains("unknown applies_to `consumers`") && m.contains("all, subscribers, publishers"),
        "{m}"
    );
}

#[test]
fn link_applies_to_everyone_unless_told() {
    use transport_bench::link::{FaultTarget, Side};
    let s = load("[link]\nrtt = \"50ms\"\n").unwrap();
    assert_eq!(s.link.unwrap().applies_to, FaultTarget::All);
    let s = load("[link]\nrtt = \"50ms\"\napplies_to = \"subscribers\"\n").unwrap();
    let l = s.link.unwrap();
    assert_eq!(l.applies_to, FaultTarget::Subscribers);
    assert!(l.shapes(Side::Subscribers) && !l.shapes(Side::Publishers));
    assert_eq!(l.for_side(Side::Publishers).rtt, Duration::ZERO);
    assert_eq!(l.for_side(Side::Subscribers).rtt, Duration::from_millis(50));
    let effective = serde_json::to_value(&s).unwrap();
    assert_eq!(effective["link"]["applies_to"], "subscribers");
}

#[test]
fn bad_faults_are_located() {
    let (line, col, m) = error("[[faults]]\nat = \"1s\"\nkind = \"explode\"\n");
    assert_eq!((line, col), (6, 8));
    assert!(
        m.contains("unknown fault kind `explode`") && m.contains("server-restart"),
        "{m}"
    );
    let (line, _, m) = error("[[faults]]\nat = \"3s\"\nkind = \"reset-connections\"\n");
    assert_eq!(line, 5);
    assert!(m.contains("inside the measured window"), "{m}");
    let (_, _, m) = error("[[faults]]\nat = \"1s\"\nkind = \"blackhole\"\n");
    assert!(m.contains("needs a duration"), "{m}");
    let (_, _, m) =
        error("[[faults]]\nat = \"1s\"\nkind = \"reset-connections\"\nduration = \"1s\"\n");
    assert!(m.contains("takes no duration"), "{m}");
    let (_, _, m) =
        error("[[faults]]\nat = \"1s\"\nkind = \"reset-connections\"\ntarget = \"servers\"\n");
    assert!(m.contains("allowed: all, subscribers, publishers"), "{m}");
    let (_, _, m) = error("[[faults]]\nkind = \"blackhole\"\n");
    assert!(m.contains("missing required key `at`"), "{m}");
}

// ---- faults in real runs ----

fn run_scenario(text: &str, kind: TransportKind) -> transport_bench::runner::CellResult {
    // In-process: these tests are about faults, and a server-restart needs it.
    let text = format!("{text}\n[server]\nmode = \"in-process\"\n");
    let s = scenario::load_str(&text, Path::new("fault.toml")).expect("valid scenario");
    let spec = s
        .expand()
        .into_iter()
        .find(|r| r.transport == kind)
        .expect("the transport is in the matrix");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(runner::run_cell(&runner::RunCtx::new(
        &s,
        &spec,
        "link",
        &Progress::new(true),
    )))
}

/// Over a 50 ms round trip a long-poll publisher sends one request per round trip, so offered
/// 100K msg/s it is still working through the warm-up's messages when the measured window
/// ends: the run must say so and carry no latency figures, never "p50 0 ns".
#[test]
fn a_run_that_publishes_nothing_in_its_window_says_why_and_has_no_latency() {
    let text = "name = \"starved\"\ndescription = \"window-bound publisher\"\n\
                warmup = \"300ms\"\nduration = \"500ms\"\ndrain_timeout = \"5s\"\n\
                subscribers = 10\nrate_per_sec = 100000\npayload = \"100B\"\n\
                [link]\nrtt = \"50ms\"\n";
    let r = run_scenario(text, TransportKind::LongPoll).result;
    eprintln!(
        "published {} ({:.0}/s), latency samples {}, reason {:?}",
        r.delivery.published,
        r.latency.throughput.published_per_sec,
        r.latency.latency_ns.count,
        r.load.saturation_reason
    );
    assert!(
        r.delivery.published > 0,
        "the warm-up's first messages do go out"
    );
    assert_eq!(
        r.latency.latency_ns.count, 0,
        "no message was intended inside the window and sent"
    );
    assert!(r.load.saturated);
    let reason = r.load.saturation_reason.unwrap_or_default();
    assert!(
        reason.contains("nothing was published inside the measured window"),
        "{reason}"
    );
}

fn reset_scenario(target: &str) -> String {
    format!(
        "name = \"reset\"\ndescription = \"one reset mid-run\"\nwarmup = \"200ms\"\nduration = \"3s\"\n\
         drain_timeout = \"5s\"\nrate_per_sec = 500\npayload = \"64B\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"reset-connections\"\ntarget = \"{target}\"\n"
    )
}

/// Runs the reset scenario for every registered transport and returns a line per transport
/// that lost messages.
fn losses_after_reset(target: &str, kinds: &[TransportKind]) -> Vec<String> {
    let text = reset_scenario(target);
    let mut problems = Vec::new();
    for &kind in kinds {
        let r = run_scenario(&text, kind).result;
        let f = &r.faults[0];
        eprintln!(
            "{kind} target={target}: published {} lost {} duplicated {} recovery {:?} reconnects {} failures {:?}",
            r.delivery.published,
            r.delivery.lost,
            r.delivery.duplicated,
            f.recovery_ns,
            f.reconnects,
            r.failures
        );
        assert!(f.fired, "{kind}: the fault must fire");
        assert_eq!(
            f.lost, r.delivery.lost,
            "{kind}: one fault carries all the loss"
        );
        if r.delivery.lost > 0 || r.delivery.published == 0 || !r.status.is_ok() {
            problems.push(format!(
                "{kind}: lost {} of {} ({:?})",
                r.delivery.lost, r.delivery.published, r.failures
            ));
        }
    }
    problems
}

/// Whether transport `T` claims to resume after a broken connection.
fn resumes(kind: TransportKind) -> bool {
    struct Resumes;
    impl transport_bench::registry::Visit for Resumes {
        type Output = bool;
        fn visit<T: transport_core::Transport>(self) -> bool {
            T::capabilities().resumes
        }
    }
    kind.visit(Resumes)
}

/// The transports whose server is ours (the runner can start it in-process and restart it);
/// the nginx + Nchan transports prove their resume in `transports/nchan/tests/`.
fn own_servers() -> impl Iterator<Item = TransportKind> {
    TransportKind::ALL
        .iter()
        .copied()
        .filter(|k| k.runs_by_default())
}

#[test]
fn subscriber_resets_lose_nothing_for_resuming_transports() {
    let kinds: Vec<TransportKind> = own_servers().filter(|&k| resumes(k)).collect();
    assert!(kinds.len() >= 3, "long-poll, websocket and pull-log resume");
    let problems = losses_after_reset("subscribers", &kinds);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn resets_of_every_connection_lose_nothing() {
    let kinds: Vec<TransportKind> = own_servers().collect();
    assert!(
        kinds.iter().all(|&k| resumes(k)),
        "every transport resumes, the raw-TCP floor included"
    );
    let problems = losses_after_reset("all", &kinds);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The pull log with file storage, restarted in place: what was acknowledged before the
/// restart is still there afterwards, and a subscriber that had not read it yet gets all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_keeps_acknowledged_messages_with_file_storage() {
    use transport_bench::link::ServerSlot;
    use transport_core::envelope::Envelope;
    use transport_core::{ClientContext, Publisher, ServerContext, Subscriber, Transport};
    use transport_pull_log::{PullLog, PullLogConfig, Storage};

    let dir = tempfile::tempdir().unwrap();
    let mut config = PullLogConfig::default();
    config.broker.storage = Storage::File;
    config.broker.data_dir = Some(dir.path().to_path_buf());
    let ctx = ServerContext::fresh();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = within("serve", PullLog::serve(&config, listener, ctx.clone()))
        .await
        .unwrap();
    let slot = ServerSlot::<PullLog>::new(server, config.clone(), ctx);
    let proxy = LinkProxy::start(slot.addr(), LinkConfig::default())
        .await
        .unwrap();
    let client = ClientContext::fresh(0);
    let sub_addr = proxy.addr(Side::Subscribers).to_string();
    let pub_addr = proxy.addr(Side::Publishers).to_string();
    let mut sub = within(
        "subscribe",
        PullLog::subscriber(&config, &sub_addr, "restart", client.clone()),
    )
    .await
    .unwrap();
    let mut publisher = within(
        "publisher",
        PullLog::publisher(&config, &pub_addr, "restart", client),
    )
    .await
    .unwrap();
    const N: u64 = 200;
    for seq in 0..N {
        let env = Envelope {
            publisher: 0,
            seq,
            intended_ns: 1,
            sent_ns: 1,
        };
        within("publish", publisher.publish(env.encode(64)))
            .await
            .unwrap();
    }
    // Acknowledged by the broker: from here on these messages must survive the restart.
    within("flush", publisher.flush()).await.unwrap();
    drop(publisher);
    within(
        "restart",
        slot.restart(Duration::from_millis(200), Some(&proxy), || {}),
    )
    .await
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut buf = Vec::new();
    while (seen.len() as u64) < N {
        buf.clear();
        within("recv after restart", sub.recv(&mut buf))
            .await
            .unwrap();
        for m in &buf {
            seen.insert(Envelope::decode(m).unwrap().seq);
        }
    }
    assert_eq!(
        seen,
        (0..N).collect(),
        "every acknowledged message survives"
    );
    within("shutdown", slot.shutdown()).await.unwrap();
}

#[test]
fn server_restart_in_a_run_reports_its_fault() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"restart\"\ndescription = \"restart mid-run\"\ntransports = [\"pull-log\"]\n\
         baseline = false\nwarmup = \"200ms\"\nduration = \"3s\"\ndrain_timeout = \"5s\"\n\
         rate_per_sec = 500\npayload = \"64B\"\nallow_loss = true\n\
         [[faults]]\nat = \"1s\"\nkind = \"server-restart\"\nduration = \"300ms\"\n\
         [transport.pull-log.broker]\nstorage = \"file\"\ndata_dir = {:?}\n",
        dir.path().display().to_string()
    );
    let r = run_scenario(&text, TransportKind::PullLog).result;
    let f = &r.faults[0];
    eprintln!(
        "pull-log restart: published {} lost {} duplicated {} recovery {:?} reconnects {} failures {:?}",
        r.delivery.published,
        r.delivery.lost,
        r.delivery.duplicated,
        f.recovery_ns,
        f.reconnects,
        r.failures
    );
    assert!(f.fired && f.error.is_none(), "{f:?}");
    assert_eq!(f.kind, FaultKind::ServerRestart);
    assert!(
        f.recovery_ns.is_some_and(|ns| ns >= 300_000_000),
        "recovery includes the downtime: {f:?}"
    );
    assert_eq!(
        r.delivery.lost, 0,
        "file storage and a resending producer lose nothing"
    );
    assert_matches_schema(&r);
}

/// Every transport with memory storage, its server restarted mid-run: clients notice, reconnect
/// and resume against the new incarnation (a new epoch), and the fault is reported. What a
/// memory server takes down with it may be lost, so loss is allowed but must be attributed to
/// the fault; duplicates (resent messages the old server had delivered) are reported.
#[test]
fn every_transport_recovers_from_a_server_restart() {
    let text = "name = \"restart\"\ndescription = \"restart mid-run\"\nwarmup = \"200ms\"\n\
                duration = \"3s\"\ndrain_timeout = \"5s\"\nrate_per_sec = 500\npayload = \"64B\"\n\
                subscribers = 2\nallow_loss = true\n\
                [[faults]]\nat = \"1s\"\nkind = \"server-restart\"\nduration = \"300ms\"\n";
    for kind in own_servers() {
        let r = run_scenario(text, kind).result;
        let f = &r.faults[0];
        eprintln!(
            "{kind} restart: published {} lost {} duplicated {} recovery {:?} reconnects {}",
            r.delivery.published,
            r.delivery.lost,
            r.delivery.duplicated,
            f.recovery_ns,
            f.reconnects
        );
        assert!(f.fired && f.error.is_none(), "{kind}: {f:?}");
        assert_eq!(f.unrecovered_subscribers, 0, "{kind}: {f:?}");
        assert!(
            f.recovery_ns.is_some_and(|ns| ns >= 300_000_000),
            "{kind}: recovery includes the downtime: {f:?}"
        );
        assert!(f.reconnects > 0, "{kind}: {f:?}");
        assert_eq!(
            (f.lost, f.duplicated),
            (r.delivery.lost, r.delivery.duplicated),
            "{kind}: the one fault carries all loss and duplication"
        );
        assert_eq!(r.status, RunStatus::Ok, "{kind}: {:?}", r.failures);
    }
}

/// A run entry with faults and idle cost matches `runs[]` of the summary schema.
fn assert_matches_schema(r: &transport_bench::results::RunResult) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let run_schema = &schema["properties"]["runs"]["items"];
    let validator = jsonschema::validator_for(run_schema).unwrap();
    let value = serde_json::to_value(r).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn blackholes_delay_but_lose_nothing() {
    let text = "name = \"blackhole\"\ndescription = \"a 1 s blackhole\"\n\
         transports = [\"long-poll\", \"websocket\"]\nbaseline = false\nwarmup = \"200ms\"\n\
         duration = \"3s\"\ndrain_timeout = \"5s\"\nrate_per_sec = 200\npayload = \"64B\"\n\
         [[faults]]\nat = \"1s\"\nkind = \"blackhole\"\nduration = \"1s\"\n";
    for kind in [TransportKind::LongPoll, TransportKind::WebSocket] {
        let r = run_scenario(text, kind).result;
        let f = &r.faults[0];
        eprintln!(
            "{kind} blackhole: lost {} duplicated {} recovery {:?} reconnects {} failures {:?}",
            r.delivery.lost, r.delivery.duplicated, f.recovery_ns, f.reconnects, r.failures
        );
        assert_eq!(
            (r.delivery.lost, r.status.as_str()),
            (0, "ok"),
            "{kind}: {:?}",
            r.failures
        );
        assert!(
            f.recovery_ns.is_some_and(|ns| ns >= 900_000_000),
            "{kind}: nothing sent after the fault arrives before the hole closes: {f:?}"
        );
        assert!(
            r.latency.latency_ns.max >= 900_000_000,
            "{kind}: held messages show in the tail"
        );
    }
}

#[test]
fn idle_cost_counts_requests_per_subscriber_per_minute() {
    let text = "name = \"idle\"\ndescription = \"nearly idle\"\n\
         transports = [\"long-poll\", \"pull-log\"]\nbaseline = false\nwarmup = \"200ms\"\n\
         duration = \"2s\"\nsubscribers = 4\nrate_per_sec = 2\npayload = \"64B\"\n";
    for (kind, counter) in [
        (TransportKind::LongPoll, "polls"),
        (TransportKind::PullLog, "fetches"),
    ] {
        let r = run_scenario(text, kind).result;
        let idle = &r.cost.idle_cost;
        eprintln!("{kind} idle: {idle:?}");
        assert!(
            idle.requests.get(counter).is_some_and(|&n| n > 0),
            "{kind}: {idle:?}"
        );
        let total: u64 = idle.requests.values().sum();
        // Per subscriber per minute of the run (about 2 s here): far more than the total.
        assert!(
            idle.requests_per_subscriber_per_min > total as f64 / 4.0,
            "{kind}: {idle:?}"
        );
        assert!(idle.bytes_per_subscriber_per_min > 0.0, "{kind}: {idle:?}");
        assert_matches_schema(&r);
    }
}
