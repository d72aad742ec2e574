//! Gives a finished run its `limited_by`: the inputs of the classifier
//! (`results::limits::classify`) read from the run's entry and the scenario it ran under (the
//! cores each process may use, the window, the link and which clients cross it).

use crate::affinity;
use crate::results::RunResult;
use crate::results::limits::{Cpu, LimitInputs, LinkSides, classify};
use crate::scenario::{Scenario, ServerMode};

/// Sets `limited_by` and `limits` on `run`; `remote` when someone else runs its server.
pub fn assess(run: &mut RunResult, scenario: &Scenario, remote: bool) {
    let (limit, figures) = classify(&inputs(run, scenario, remote));
    run.limited_by = Some(limit);
    run.limits = Some(figures);
}

/// The classifier's inputs for `run`.
fn inputs(run: &RunResult, scenario: &Scenario, remote: bool) -> LimitInputs {
    let res = &run.cost.resources;
    let cpu_s = |p: &crate::results::resources::ProcessFigures| {
        p.available
            .then(|| p.cpu_user_s.zip(p.cpu_system_s).map(|(u, s)| u + s))
            .flatten()
    };
    let cores = |pinned: &Option<Vec<u32>>, all: Vec<u32>| {
        pinned.as_ref().map_or(all.len(), Vec::len) as u32
    };
    let link = scenario.link.filter(|l| !l.rtt.is_zero());
    let sides = link.map_or(LinkSides::default(), |l| LinkSides {
        publishers: l.shapes(crate::link::Side::Publishers),
        subscribers: l.shapes(crate::link::Side::Subscribers),
    });
    let throughput = &run.latency.throughput;
    LimitInputs {
        measured: run.delivery.measured_secs > 0.0,
        valid: run.load.valid,
        offered_per_sec: run.offered_rate,
        published_per_sec: throughput.published_per_sec,
        saturated: run.load.saturated,
        window_secs: run.delivery.measured_secs,
        server: Cpu {
            seconds: cpu_s(&res.server),
            cores: cores(&scenario.server.cpus, affinity::online()),
        },
        load: Cpu {
            seconds: cpu_s(&res.load),
            // The load generator pinned itself before its runtime started, so its own mask is
            // the set it may use.
            cores: cores(&scenario.load.cpus, affinity::current()),
        },
        server_in_load: !remote && scenario.server.mode == ServerMode::InProcess,
        window_messages: f64::from(scenario.publishers) * f64::from(scenario.max_in_flight),
        min_trip_ns: run.latency.latency_from_send_ns.min,
        link_sides: sides,
        link_rtt_ns: link.map_or(0, |l| l.rtt.as_nanos() as u64),
        link_busy: scenario
            .link
            .and_then(|l| l.bandwidth_bits_per_sec)
            .map(|bits| link_busy(run, scenario, bits)),
    }
}

/// The busiest shaped direction's share of `bits` per second, per connection: publishers'
/// bytes to the server and subscribers' bytes from it, each at the measured window's rate
/// (bytes per message over the whole run, times the window's messages per second).
fn link_busy(run: &RunResult, scenario: &Scenario, bits: u64) -> f64 {
    let wire = &run.traffic.wire;
    let link = scenario.link.unwrap_or_default();
    let per_conn = |bytes: u64, msgs: u64, per_sec: f64, conns: u32| {
        if msgs == 0 || conns == 0 {
            return 0.0;
        }
        bytes as f64 / msgs as f64 * per_sec / f64::from(conns) * 8.0 / bits as f64
    };
    let publish = per_conn(
        wire.publisher.written,
        run.delivery.published,
        run.latency.throughput.published_per_sec,
        scenario.publishers,
    );
    let deliver = per_conn(
        wire.subscriber.read,
        run.delivery.delivered,
        run.latency.throughput.msgs_per_sec,
        run.subscribers,
    );
    let shaped = |side, share: f64| if link.shapes(side) { share } else { 0.0 };
    shaped(crate::link::Side::Publishers, publish)
        .max(shaped(crate::link::Side::Subscribers, deliver))
}
