//! Scenario files: every file shipped in `scenarios/` validates, bad input is rejected with
//! `file:line:col` and the allowed values, and matrix expansion is complete and uniquely named.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use transport_bench::registry::TransportKind;
use transport_bench::scenario::{Rate, ScenarioError, load, load_str, resolve_path};

mod scenario_support;
use scenario_support::{BASE, assert_contains, bad, ok};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

#[test]
fn every_shipped_scenario_loads_and_expands() {
    let mut seen = 0;
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(scenario.name.as_str()),
            path.file_stem().and_then(|s| s.to_str())
        );
        let runs = scenario.expand();
        assert!(!runs.is_empty(), "{} expands to nothing", path.display());
        let names: BTreeSet<String> = runs.iter().map(|r| r.name()).collect();
        assert_eq!(
            names.len(),
            runs.len(),
            "{}: run names repeat",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 4,
        "expected the four shipped scenarios, found {seen}"
    );
}

/// What a scenario listing no transports runs: every registered one whose server is ours.
fn default_transports() -> Vec<TransportKind> {
    TransportKind::ALL
        .iter()
        .copied()
        .filter(|k| k.runs_by_default())
        .collect()
}

#[test]
fn quick_covers_every_transport_in_under_a_minute() {
    let quick = load(&scenarios_dir().join("quick.toml")).unwrap();
    assert_eq!(quick.transports, default_transports());
    // A server program (nginx) runs only where a scenario names it.
    assert!(!quick.transports.contains(&TransportKind::NchanSse));
    assert_eq!(quick.transports[0].name(), "raw-tcp");
    // Drains end as soon as the last message arrives, so warm-up plus window dominates.
    assert!(quick.planned_time() <= std::time::Duration::from_secs(30));
}

#[test]
fn bare_names_resolve_to_the_scenarios_folder() {
    let path = resolve_path("quick");
    assert!(path.ends_with("scenarios/quick.toml"), "{}", path.display());
    assert!(path.exists());
    assert_eq!(resolve_path("quick.toml"), path);
    assert_eq!(
        resolve_path("some/where.toml"),
        PathBuf::from("some/where.toml")
    );
}

#[test]
fn defaults_are_filled_in() {
    let s = ok("");
    assert_eq!(s.transports, default_transports());
    assert_eq!(s.warmup, std::time::Duration::from_secs(1));
    assert_eq!(s.drain_timeout, std::time::Duration::from_secs(5));
    assert_eq!((s.publishers, s.topics, s.max_in_flight), (1, 1, 1000));
    assert_eq!(s.subscribers, vec![1]);
    assert_eq!(s.payload_bytes, vec![100]);
    assert_eq!(s.rates, vec![Rate::PerSec(1000.0)]);
    assert!(s.socket.nodelay && !s.allow_loss && s.p99_target.is_none());
    assert!(s.transport_options.is_empty());
}

#[test]
fn values_in_every_accepted_form() {
    let s = ok(
        "payload = [\"64B\", \"1KiB\", 4096, \"1.5MiB\"]\nrate_per_sec = [10, 2.5, \"max\"]\n\
                subscribers = [1, 10]\np99_target = \"250ms\"\n[socket]\nnodelay = false\n",
    );
    assert_eq!(s.payload_bytes, vec![64, 1024, 4096, 1536 * 1024]);
    assert_eq!(
        s.rates,
        vec![Rate::PerSec(10.0), Rate::PerSec(2.5), Rate::Max]
    );
    assert_eq!(s.p99_target, Some(std::time::Duration::from_millis(250)));
    assert!(!s.socket.nodelay);
    assert_eq!(s.expand().len(), s.transports.len() * 4 * 3 * 2);
}

#[test]
fn baseline_is_first_and_can_be_turned_off() {
    let names = TransportKind::names();
    let last = names[names.len() - 1];
    let s = ok(&format!("transports = [\"{last}\"]\n"));
    assert_eq!(s.transports[0].name(), "raw-tcp");
    let s = ok("transports = [\"raw-tcp\"]\nbaseline = false\n");
    assert_eq!(s.transports.len(), 1);
    let (line, _, m) = bad("transports = []\nbaseline = false\n");
    assert_eq!(line, 4);
    assert_contains(&m, &["no transports", "raw-tcp"]);
}

#[test]
fn transport_table_is_kept() {
    let s = ok("[transport.raw-tcp]\nqueue_capacity = 16\n");
    let kind = TransportKind::from_name("raw-tcp").unwrap();
    assert_eq!(
        s.transport_options[&kind]["queue_capacity"].as_integer(),
        Some(16)
    );
}

#[test]
fn unknown_key_names_the_allowed_keys() {
    let (line, col, m) = bad("durration = \"3s\"\n");
    assert_eq!((line, col), (4, 1));
    assert_contains(
        &m,
        &[
            "unknown key `durration`",
            "allowed:",
            "duration",
            "rate_per_sec",
        ],
    );
    let (line, col, m) = bad("[socket]\nno_delay = true\n");
    assert_eq!((line, col), (5, 1));
    assert_contains(&m, &["unknown key `no_delay`", "allowed: nodelay"]);
}

#[test]
fn wrong_type_and_bad_rates() {
    for extra in [
        "rate_per_sec = \"fast\"\n",
        "rate_per_sec = -5\n",
        "rate_per_sec = 0\n",
        "rate_per_sec = [100, -1]\n",
    ] {
        let (line, col, m) = bad(extra);
        assert_eq!(line, 4, "{extra}");
        assert!(col > 1, "{extra}: column should point at the value");
        assert_contains(&m, &["rate_per_sec must be > 0 or \"max\""]);
    }
    let (_, col, _) = bad("rate_per_sec = [100, -1]\n");
    assert_eq!(col, 22, "points at the list item");
    let (line, _, m) = bad("publishers = \"two\"\n");
    assert_eq!(line, 4);
    assert_contains(&m, &["whole number"]);
}

#[test]
fn bad_durations() {
    let text = "name = \"t\"\ndescription = \"d\"\nduration = \"0s\"\n";
    let e = load_str(text, Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.toml:3:12: duration must be > 0"), "{e}");
    let e = load_str(&text.replace("\"0s\"", "\"soon\""), Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("bad.toml:3:12:") && e.contains("\"30s\" or \"250ms\""),
        "{e}"
    );
    let e = load_str(&text.replace("\"0s\"", "30"), Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"30s\" or \"250ms\""), "{e}");
}

#[test]
fn unknown_transport_in_list() {
    let (line, col, m) = bad("transports = [\"raw-tcp\", \"web-socket\"]\n");
    assert_eq!((line, col), (4, 26));
    let allowed = TransportKind::names().join(", ");
    assert_contains(
        &m,
        &[
            "unknown transport `web-socket`",
            &format!("allowed: {allowed}"),
        ],
    );
    let (_, _, m) = bad("transports = [\"raw-tcp\", \"raw-tcp\"]\n");
    assert_contains(&m, &["listed twice"]);
}

#[test]
fn unknown_transport_table() {
    let (line, _, m) = bad("[transport.xyz]\nhold = \"1s\"\n");
    assert_eq!(line, 4);
    assert_contains(&m, &["`[transport.xyz]`", "allowed: raw-tcp"]);
}

#[test]
fn transport_tables_are_checked_by_the_transport() {
    let (line, col, m) = bad("[transport.raw-tcp]\nqueue_capacity = 8\nbogus = 1\n");
    assert_eq!((line, col), (6, 1));
    assert_contains(
        &m,
        &[
            "[transport.raw-tcp]",
            "unknown key `bogus`",
            "allowed:",
            "queue_capacity",
        ],
    );
    let (line, _, m) = bad("[transport.raw-tcp]\nqueue_capacity = \"lots\"\n");
    assert_eq!(line, 5);
    assert_contains(&m, &["[transport.raw-tcp]"]);
    // `validate` failures point at the option they name.
    let (line, col, m) = bad("[transport.raw-tcp]\nmax_frame_bytes = 1024\nqueue_capacity = 0\n");
    assert_eq!((line, col), (6, 18));
    assert_contains(&m, &["queue_capacity must be > 0"]);
}

#[test]
fn payload_limits() {
    let (line, col, m) = bad("payload = \"16B\"\n");
    assert_eq!((line, col), (4, 11));
    assert_contains(&m, &["payload must be between 28B", "16MiB"]);
    let (_, _, m) = bad("payload = [\"64B\", \"17MiB\"]\n");
    assert_contains(&m, &["16MiB"]);
    ok("payload = [28, \"16MiB\"]\n");
    let (_, _, m) = bad("payload = \"1KB\"\n");
    assert_contains(&m, &["1KiB"]);
    let (_, _, m) = bad("payload = [\"1KiB\", 1024]\n");
    assert_contains(&m, &["same value twice"]);
}

#[test]
fn counts_and_topics() {
    let (_, _, m) = bad("subscribers = [1, 0]\n");
    assert_contains(&m, &["subscribers must be between 1 and"]);
    let (line, _, m) = bad("publishers = 2\nsubscribers = [1, 4]\ntopics = 2\n");
    assert_eq!(line, 6);
    assert_contains(
        &m,
        &[
            "topics must be <= publishers",
            "smallest subscriber count (1)",
        ],
    );
    ok("publishers = 2\nsubscribers = [2, 4]\ntopics = 2\n");
    let (_, _, m) = bad("max_in_flight = 0\n");
    assert_contains(&m, &["max_in_flight must be between 1"]);
}

#[test]
fn missing_required_key_and_syntax_errors() {
    let e = load_str(
        "description = \"d\"\nduration = \"1s\"\n",
        Path::new("x.toml"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing required key `name`"), "{e}");
    let e = load_str("name = \"t\"\nname = \"u\"\n", Path::new("x.toml")).unwrap_err();
    assert!(e.to_string().starts_with("x.toml:2:"), "{e}");
    let e = load(Path::new("/nonexistent/none.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }));
}

proptest! {
    #[test]
    fn expansion_is_the_full_product_with_unique_names(
        transports in proptest::sample::subsequence(TransportKind::names(), 1..=TransportKind::ALL.len()),
        payloads in proptest::collection::btree_set(28u64..(16 << 20), 1..4),
        rates in proptest::collection::btree_set(1u32..1_000_000, 0..4),
        max in any::<bool>(),
        subscribers in proptest::collection::btree_set(1u32..5000, 1..4),
        baseline in any::<bool>(),
    ) {
        let mut rate_items: Vec<String> = rates.iter().map(|r| (*r as f64 / 4.0).to_string()).collect();
        if max || rate_items.is_empty() {
            rate_items.push("\"max\"".into());
        }
        let list = |v: Vec<String>| format!("[{}]", v.join(", "));
        let text = format!(
            "{BASE}baseline = {baseline}\ntransports = {}\npayload = {}\nrate_per_sec = {}\nsubscribers = {}\n",
            list(transports.iter().map(|t| format!("\"{t}\"")).collect()),
            list(payloads.iter().map(|p| p.to_string()).collect()),
            list(rate_items.clone()),
            list(subscribers.iter().map(|s| s.to_string()).collect()),
        );
        let s = load_str(&text, Path::new("prop.toml")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected_transports = transports.len() + usize::from(baseline && !transports.contains(&"raw-tcp"));
        prop_assert_eq!(s.transports.len(), expected_transports);
        let runs = s.expand();
        prop_assert_eq!(runs.len(), expected_transports * payloads.len() * rate_items.len() * subscribers.len());
        let names: BTreeSet<String> = runs.iter().map(|r| r.name()).collect();
        prop_assert_eq!(names.len(), runs.len());
    }
}

#[test]
fn compare_thresholds_are_checked_when_the_scenario_loads() {
    let s = ok("[compare]\np99 = \"15%\"\noverhead = 1\n");
    assert_eq!(s.compare.get("p99").map(String::as_str), Some("15%"));
    assert_eq!(s.compare.get("overhead").map(String::as_str), Some("1"));
    let (line, col, message) = bad("[compare]\np98 = \"15%\"\n");
    assert_eq!((line, col), (BASE.lines().count() + 2, 1), "{message}");
    assert!(message.contains("p98"), "{message}");
    let (_, _, message) = bad("[compare]\np99 = [1]\n");
    assert!(message.contains("15%"), "{message}");
}

#[test]
fn server_placement_defaults_to_its_own_process_and_takes_cpus() {
    use transport_bench::scenario::ServerMode;
    let s = ok("");
    assert_eq!(s.server.mode, ServerMode::Process);
    assert_eq!(s.server.cpus, None);
    assert_eq!(s.load.cpus, None);
    let s = ok("[server]\nmode = \"process\"\ncpus = [0]\n[load]\ncpus = [0]\n");
    assert_eq!(s.server.cpus, Some(vec![0]));
    assert_eq!(s.load.cpus, Some(vec![0]));
    assert_eq!(
        ok("[server]\nmode = \"in-process\"\n").server.mode,
        ServerMode::InProcess
    );
}

#[test]
fn bad_placement_is_located_with_the_allowed_values() {
    let (line, col, msg) = bad("[server]\nmode = \"thread\"\n");
    assert_eq!((line, col), (5, 8));
    assert_contains(&msg, &["thread", "process", "in-process"]);
    let (line, _, msg) = bad("[server]\ncpus = [0, 4096]\n");
    assert_eq!(line, 5);
    assert_contains(&msg, &["CPU 4096", "allowed: 0"]);
    let (line, _, msg) = bad("[load]\ncpus = [0, 0]\n");
    assert_eq!(line, 5);
    assert_contains(&msg, &["twice"]);
    let (line, _, msg) = bad("[server]\nport = 1\n");
    assert_eq!(line, 5);
    assert_contains(&msg, &["port"]);
    let (_, _, msg) = bad("[load]\nmode = \"process\"\n");
    assert_contains(&msg, &["mode"]);
}

#[test]
fn deliveries_per_sec_fixes_the_total_delivery_rate_across_subscriber_counts() {
    let s =
        ok("transports = [\"websocket\"]\nsubscribers = [100, 1000]\ndeliveries_per_sec = 10000\n");
    let runs = s.expand();
    let names: Vec<String> = runs.iter().map(|r| r.name()).collect();
    assert!(
        names.iter().all(|n| n.contains("deliveries=10000")),
        "{names:?}"
    );
    let by_subs: Vec<(u32, Rate)> = runs
        .iter()
        .filter(|r| r.transport == TransportKind::WebSocket)
        .map(|r| (r.subscribers, r.rate))
        .collect();
    assert!(by_subs.contains(&(100, Rate::PerSec(100.0))), "{by_subs:?}");
    assert!(by_subs.contains(&(1000, Rate::PerSec(10.0))), "{by_subs:?}");
    // Both dimensions together: offered rates first, then fixed deliveries.
    let both = ok("subscribers = 10\nrate_per_sec = 5\ndeliveries_per_sec = 100\n").expand();
    assert!(both.iter().any(|r| r.name().contains("rate=5")));
    assert!(
        both.iter()
            .any(|r| r.rate == Rate::PerSec(10.0) && r.name().contains("deliveries=100"))
    );
    let (line, _, msg) = bad("deliveries_per_sec = \"max\"\n");
    assert_eq!(line, 4);
    assert_contains(&msg, &["deliveries_per_sec", "number"]);
}

#[test]
fn raw_tcp_slow_consumer_names_its_allowed_values() {
    let s = ok("[transport.raw-tcp]\nslow_consumer = \"disconnect\"\n");
    let kind = TransportKind::RawTcp;
    assert_eq!(
        s.transport_options[&kind]["slow_consumer"].as_str(),
        Some("disconnect")
    );
    let (line, col, m) = bad("[transport.raw-tcp]\nslow_consumer = \"drop\"\n");
    assert_eq!((line, col), (5, 17));
    assert_contains(&m, &["[transport.raw-tcp]", "drop", "block", "disconnect"]);
    let (line, _, m) = bad("[transport.raw-tcp]\nslow_consumer = 1\n");
    assert_eq!(line, 5);
    assert_contains(&m, &["[transport.raw-tcp]"]);
}

#[test]
fn tls_sweeps_the_matrix_and_tags_runs_only_when_the_scenario_has_it() {
    let plain = ok("transports = [\"websocket\"]\nbaseline = false\n");
    let runs = plain.expand();
    assert_eq!(runs.len(), 1);
    assert!(
        !runs[0].tls && !runs[0].tags.contains_key("tls"),
        "no [tls]: untouched names"
    );

    let both =
        ok("transports = [\"websocket\"]\nbaseline = false\n[tls]\nenabled = [false, true]\n");
    let names: Vec<String> = both.expand().iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "payload=100B,rate=1000,subscribers=1,tls=off,transport=websocket",
            "payload=100B,rate=1000,subscribers=1,tls=on,transport=websocket",
        ]
    );
    let on = ok("[tls]\n");
    assert!(
        on.expand().iter().all(|r| r.tls),
        "a bare [tls] table turns TLS on"
    );
    let tls = on.tls.unwrap();
    assert_eq!(
        (tls.cert, tls.key, tls.ca),
        (None, None, None),
        "a throwaway CA per run"
    );

    let (line, col, m) = bad("[tls]\nenabled = [true, true]\n");
    assert_eq!((line, col), (5, 18));
    assert_contains(&m, &["enabled lists the same value twice"]);
}
