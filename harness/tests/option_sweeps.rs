//! Transport-option sweeps: a list where a `[transport.<name>]` knob takes one value expands the
//! run matrix for that transport only, each run tagged `<knob>=<value>` and run with that value;
//! bad lists are refused at `file:line:col`. The last test runs a sweep through the binary.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use transport_bench::registry::TransportKind;

mod bin_support;
mod scenario_support;
use scenario_support::{assert_contains, bad, ok};

fn kind(name: &str) -> TransportKind {
    TransportKind::from_name(name).unwrap()
}

#[test]
fn a_list_sweeps_only_its_transport_and_each_run_gets_one_value() {
    let s = ok("transports = [\"raw-tcp\", \"websocket\"]\n\
                [transport.websocket]\n\
                send_queue_messages = [64, 1024]\n\
                coalesce = [false, true]\n\
                ping_interval = \"10s\"\n");
    let runs = s.expand();
    let names: Vec<String> = runs.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "payload=100B,rate=1000,subscribers=1,transport=raw-tcp",
            "coalesce=false,payload=100B,rate=1000,send_queue_messages=64,subscribers=1,transport=websocket",
            "coalesce=false,payload=100B,rate=1000,send_queue_messages=1024,subscribers=1,transport=websocket",
            "coalesce=true,payload=100B,rate=1000,send_queue_messages=64,subscribers=1,transport=websocket",
            "coalesce=true,payload=100B,rate=1000,send_queue_messages=1024,subscribers=1,transport=websocket",
        ]
    );
    // The table the transport sees holds no list: the swept knobs are out of it, and each
    // run's own table has its scalar beside the knobs set once.
    let table = &s.transport_options[&kind("websocket")];
    assert!(!table.contains_key("send_queue_messages") && !table.contains_key("coalesce"));
    let last = s.options_for(&runs[4]).unwrap();
    assert_eq!(last["send_queue_messages"].as_integer(), Some(1024));
    assert_eq!(last["coalesce"].as_bool(), Some(true));
    assert_eq!(last["ping_interval"].as_str(), Some("10s"));
    assert!(s.options_for(&runs[0]).is_none(), "raw-tcp has no table");
}

#[test]
fn a_sub_table_knob_is_swept_by_its_dotted_path() {
    let s = ok("transports = [\"pull-log\"]\nbaseline = false\n\
                [transport.pull-log]\nfetch_max_wait = [\"0ms\", \"100ms\"]\n\
                [transport.pull-log.broker]\npartitions_per_topic = [1, 2]\n");
    let runs = s.expand();
    assert_eq!(runs.len(), 4);
    let tags: BTreeSet<(String, String)> = runs
        .iter()
        .map(|r| {
            (
                r.tags["fetch_max_wait"].clone(),
                r.tags["broker.partitions_per_topic"].clone(),
            )
        })
        .collect();
    assert_eq!(tags.len(), 4, "every combination once: {tags:?}");
    let t = s.options_for(&runs[3]).unwrap();
    assert_eq!(t["fetch_max_wait"].as_str(), Some("100ms"));
    assert_eq!(t["broker"]["partitions_per_topic"].as_integer(), Some(2));
}

#[test]
fn a_sweep_multiplies_the_other_dimensions() {
    let s = ok(
        "transports = [\"websocket\"]\nbaseline = false\nsubscribers = [1, 2]\n\
                reconnect = [\"full-jitter\", \"immediate\"]\n\
                [transport.websocket]\nsend_queue_messages = [64, 128, 256]\n",
    );
    let runs = s.expand();
    assert_eq!(runs.len(), 2 * 2 * 3);
    let names: BTreeSet<String> = runs.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), runs.len(), "names stay unique");
}

#[test]
fn bad_sweeps_are_located_with_the_reason() {
    let (line, col, m) = bad("[transport.websocket]\nsend_queue_messages = []\n");
    assert_eq!((line, col), (5, 23));
    assert_contains(
        &m,
        &[
            "[transport.websocket]",
            "`send_queue_messages` is an empty list",
        ],
    );

    // A value the transport refuses is pointed at, not the list.
    let (line, col, m) = bad("[transport.nats-pull]\nbatch = [10, 0]\n");
    assert_eq!((line, col), (5, 14));
    assert_contains(&m, &["[transport.nats-pull]", "batch must be 1..=1000000"]);
    let (line, col, m) = bad("[transport.nats-pull]\nbatch = [10, \"many\"]\n");
    assert_eq!((line, col), (5, 14));
    assert_contains(&m, &["[transport.nats-pull]"]);

    let (line, col, m) = bad("[transport.nats-pull]\nbatch = [10, 10]\n");
    assert_eq!((line, col), (5, 14));
    assert_contains(&m, &["`batch` lists the same value twice"]);

    let (line, col, m) = bad("[transport.nats-pull]\nbatch = [[1], [2]]\n");
    assert_eq!((line, col), (5, 10));
    assert_contains(&m, &["one value, not a list"]);

    let (_, _, m) = bad("[transport.pull-log]\nbroker = [{ partitions_per_topic = 2 }]\n");
    assert_contains(&m, &["not a table", "[transport.pull-log.broker]"]);

    // `reconnect` names a dimension of the matrix already (`reconnect = [..]` at the top).
    let (line, col, m) = bad("[transport.redis-streams]\nreconnect = [{ base = \"10ms\" }]\n");
    assert_eq!((line, col), (5, 13));
    assert_contains(&m, &["`reconnect` cannot be swept", "collide"]);

    let (_, col, m) = bad("[transport.nats-core]\nnats_server = [\"nats-server\", \"a,b\"]\n");
    assert_eq!(col, 31);
    assert_contains(&m, &["names its runs", "without `,` or `=`"]);
}

#[test]
fn every_combination_is_checked_by_the_transport() {
    // Each value is fine alone; flow control without heartbeats is not.
    let (line, col, m) = bad("[transport.nats-push]\nflow_control = [false, true]\n\
                              idle_heartbeat = [\"0s\", \"1s\"]\n");
    assert_eq!((line, col), (6, 19), "{m}");
    assert_contains(&m, &["flow_control = true needs idle_heartbeat > 0"]);

    let list = |n: u32| {
        let items: Vec<String> = (1..=n).map(|i| (i * 1024).to_string()).collect();
        format!("[{}]", items.join(", "))
    };
    let (line, _, m) = bad(&format!(
        "[transport.websocket]\nsend_queue_messages = {}\nresume_buffer_messages = {}\n\
         coalesce_max_bytes = {}\n",
        list(30),
        list(30),
        list(30)
    ));
    assert_eq!(line, 4, "the table's header");
    assert_contains(&m, &["more than 10000 combinations"]);
}

/// One sweep through the real binary: long-poll's `max_messages` (most messages one poll
/// response carries) at 1 and at 100, closed loop. Each run's result carries its own value,
/// the tags keep them apart, and the value reached the run: with 1, no response carried more.
#[test]
fn a_swept_knob_reaches_each_run_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = bin_support::run_ok(
        dir.path(),
        "name = \"sweep\"\ndescription = \"long-poll max_messages swept\"\n\
         transports = [\"long-poll\"]\nbaseline = false\nwarmup = \"200ms\"\nduration = \"1s\"\n\
         rate_per_sec = \"max\"\nmax_in_flight = 200\n\
         [transport.long-poll]\nmax_messages = [1, 100]\nhold_timeout = \"2s\"\n",
    );
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema: {errors:#?}");

    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let names: BTreeSet<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "tags differ: {names:?}");
    for (run, value) in runs.iter().zip([1, 100]) {
        assert_eq!(
            run["tags"]["max_messages"],
            value.to_string(),
            "{}",
            run["name"]
        );
        assert_eq!(run["transport_options"]["max_messages"], value);
        assert_eq!(run["transport_options"]["hold_timeout"], "2s");
        assert_eq!(run["lost"], 0);
        assert!(run["delivered"].as_u64().unwrap() > 0);
    }
    let per_unit = &runs[0]["messages_per_delivery_unit"];
    assert_eq!(
        per_unit["max"], 1,
        "max_messages = 1 reached the run: {per_unit}"
    );
    // The effective scenario lists the sweep; the report tells the runs apart by the tag.
    let effective = &summary["scenario"]["effective"]["transport_options"]["long-poll"];
    assert_eq!(effective["max_messages"], serde_json::json!([1, 100]));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("max_messages=1") && report.contains("max_messages=100"));
}
