//! What limited a run's figures (`limited_by`), decided from figures the run already has: each
//! process's CPU against the cores it may use, the closed-loop window against the measured
//! trip time, the emulated link's bandwidth, and whether an open loop kept its offered rate.
//!
//! A throughput a user reads is a property of the transport only when the transport's server
//! (or the pattern's round trips) set it. When our load generator's cores were busy the figure
//! is a lower bound; when the harness's window or the link set it, it says nothing about the
//! pattern. The verdict says which, with the utilisation figures behind it, and prefers
//! `unknown` to a guess.

use serde::{Deserialize, Serialize};

use crate::text;

/// A process whose cores were at least this busy over the measured window limited the run.
pub const BUSY: f64 = 0.9;
/// A link direction carrying at least this share of its bandwidth limited the run.
pub const LINK_FULL: f64 = 0.9;
/// A closed loop publishing at least this share of what its window allows over the measured
/// trip time is held by the window (it refills at half, so a window-bound loop averages ~¾).
pub const WINDOW_HELD: f64 = 0.5;
/// An open loop publishing less than this share of its offered rate had a publisher that fell
/// behind (as `saturated` counts it).
pub const KEPT_UP: f64 = 0.95;

/// What limited a run: serialized as the kebab-case names of issue 33.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The load generator's cores were busy: the figure is a lower bound for the transport.
    LoadGenerator,
    /// The server process's cores were busy.
    Server,
    /// In-flight messages over the trip time: the harness's `max_in_flight`, or a client's own
    /// requests per round trip over the emulated link.
    Window,
    /// The emulated link's bandwidth.
    Link,
    /// An open loop that kept up: the figure is the offered rate, not a ceiling.
    OfferedRate,
    /// Nothing measured settles it (no server figures, or no resource saturated).
    Unknown,
}

impl Limit {
    /// The serialized name.
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoadGenerator => "load-generator",
            Limit::Server => "server",
            Limit::Window => "window",
            Limit::Link => "link",
            Limit::OfferedRate => "offered-rate",
            Limit::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// The figures behind a run's `limited_by` (`limits` in `summary.json`). Shares are 0–1; a
/// figure that could not be known is null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitFigures {
    /// The verdict in words, with the deciding figure.
    pub reason: String,
    /// Server CPU over the measured window as a share of the cores it may use.
    pub server_cpu_busy: Option<f64>,
    /// Cores the server may use (its pinned set, else every online core).
    pub server_cores: Option<u32>,
    /// Load generator CPU over the measured window as a share of the cores it may use.
    pub load_cpu_busy: Option<f64>,
    /// Cores the load generator may use.
    pub load_cores: Option<u32>,
    /// Closed loop: publishes per second the window allows, `publishers × max_in_flight` over
    /// the shortest measured trip (latency from send, minimum).
    pub window_reach_msgs_per_sec: Option<f64>,
    /// The busiest shaped link direction's share of its bandwidth (per connection).
    pub link_busy: Option<f64>,
    /// Open loop: published per second over offered per second.
    pub offered_share: Option<f64>,
}

/// One process's CPU over the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    /// CPU seconds (user + system) in the window; `None` when not measured.
    pub seconds: Option<f64>,
    /// Cores it may use.
    pub cores: u32,
}

impl Cpu {
    fn busy(&self, window_secs: f64) -> Option<f64> {
        let s = self.seconds?;
        (window_secs > 0.0 && self.cores > 0).then(|| s / window_secs / f64::from(self.cores))
    }
}

/// Which clients cross an emulated link with a round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkSides {
    /// Publishers' connections are delayed.
    pub publishers: bool,
    /// Subscribers' connections are delayed.
    pub subscribers: bool,
}

/// Everything the verdict is made from; built from a run's entry and its scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitInputs {
    /// The run measured something (its window ran).
    pub measured: bool,
    /// The load generator kept its own time (`valid` of the run).
    pub valid: bool,
    /// Offered publishes per second (open loop); `None` for closed loop.
    pub offered_per_sec: Option<f64>,
    /// Published per second in the window.
    pub published_per_sec: f64,
    /// The run is marked saturated.
    pub saturated: bool,
    /// Measured window, seconds.
    pub window_secs: f64,
    /// The server process.
    pub server: Cpu,
    /// The load generator's process.
    pub load: Cpu,
    /// The server runs inside the load generator's process.
    pub server_in_load: bool,
    /// Closed-loop in-flight capacity: publishers × `max_in_flight`.
    pub window_messages: f64,
    /// Shortest latency from the actual send, ns (0: none recorded).
    pub min_trip_ns: u64,
    /// Which clients a link with a round trip delays (none without a link).
    pub link_sides: LinkSides,
    /// The link's round trip, ns.
    pub link_rtt_ns: u64,
    /// Highest share of a shaped direction's bandwidth in use, if bandwidth is limited.
    pub link_busy: Option<f64>,
}

/// Decides what limited a run; the pure logic, tested case by case below.
pub fn classify(i: &LimitInputs) -> (Limit, LimitFigures) {
    let mut f = LimitFigures {
        server_cpu_busy: i.server.busy(i.window_secs),
        server_cores: (i.server.seconds.is_some()).then_some(i.server.cores),
        load_cpu_busy: i.load.busy(i.window_secs),
        load_cores: (i.load.seconds.is_some()).then_some(i.load.cores),
        window_reach_msgs_per_sec: window_reach(i),
        link_busy: i.link_busy,
        offered_share: i
            .offered_per_sec
            .filter(|o| *o > 0.0)
            .map(|o| i.published_per_sec / o),
        reason: String::new(),
    };
    let (limit, reason) = decide(i, &f);
    f.reason = reason;
    (limit, f)
}

fn window_reach(i: &LimitInputs) -> Option<f64> {
    (i.offered_per_sec.is_none() && i.min_trip_ns > 0 && i.window_messages > 0.0)
        .then(|| i.window_messages * 1e9 / i.min_trip_ns as f64)
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The verdict and its sentence, in order of certainty: nothing measured, an open loop that
/// kept up, a full link, a busy process, then the window (which needs both processes known to
/// be idle, as an inference from Little's law).
fn decide(i: &LimitInputs, f: &LimitFigures) -> (Limit, String) {
    if !i.measured {
        return (Limit::Unknown, "the run measured nothing".to_owned());
    }
    if !i.valid {
        return (
            Limit::Unknown,
            "the run is invalid: the load generator's own wake-ups were late, so its figures \
             describe the machine at that moment"
                .to_owned(),
        );
    }
    // The run's own saturation check decides whether an open loop kept up (it also knows
    // when too few messages fall inside the window to judge a share).
    if i.offered_per_sec.is_some() && !i.saturated {
        let published = f
            .offered_share
            .map_or(String::new(), |s| format!(" ({} of it published)", pct(s)));
        return (
            Limit::OfferedRate,
            format!("the open loop kept its offered rate{published}"),
        );
    }
    if let Some(busy) = f.link_busy.filter(|b| *b >= LINK_FULL) {
        return (
            Limit::Link,
            format!(
                "the link's bandwidth: its busiest direction ran at {}",
                pct(busy)
            ),
        );
    }
    if let Some(verdict) = busy_process(i, f) {
        return verdict;
    }
    let cpu = cpu_sentence(f);
    if f.server_cpu_busy.is_none() && !i.server_in_load {
        return (
            Limit::Unknown,
            format!("the server's CPU was not measured (no metrics endpoint); {cpu}"),
        );
    }
    // Each process's own CPU is counted, not the cores': on a shared machine other work can
    // fill the cores while ours stay under the bar, which this cannot tell from a slow path.
    window(i, f).unwrap_or_else(|| {
        (
            Limit::Unknown,
            format!(
                "no resource was saturated: {cpu}; CPU other processes took on those cores is \
                 not counted"
            ),
        )
    })
}

/// `server` or `load-generator` when a process's cores were busy (the busier one when both
/// were; on a tie the load generator, whose limit makes the figure a lower bound).
fn busy_process(i: &LimitInputs, f: &LimitFigures) -> Option<(Limit, String)> {
    let busy = |b: Option<f64>| b.filter(|b| *b >= BUSY);
    let (server, load) = (busy(f.server_cpu_busy), busy(f.load_cpu_busy));
    let cpu = cpu_sentence(f);
    match (server, load) {
        (_, Some(_)) if i.server_in_load => Some((
            Limit::Unknown,
            format!(
                "the server runs inside the load generator's process, which was busy; \
                 {cpu}: which side set the limit cannot be told apart"
            ),
        )),
        (Some(s), Some(l)) if s > l => Some((Limit::Server, format!("the server's cores: {cpu}"))),
        (_, Some(_)) => Some((
            Limit::LoadGenerator,
            format!("the load generator's cores: {cpu}; the figure is a lower bound"),
        )),
        (Some(_), None) => Some((Limit::Server, format!("the server's cores: {cpu}"))),
        (None, None) => None,
    }
}

fn cpu_sentence(f: &LimitFigures) -> String {
    let side = |name: &str, busy: Option<f64>, cores: Option<u32>| match (busy, cores) {
        (Some(b), Some(c)) => format!("{name} {} of {c} core{}", pct(b), plural(c)),
        _ => format!("{name} not measured"),
    };
    format!(
        "{}, {} busy",
        side("server", f.server_cpu_busy, f.server_cores),
        side("load generator", f.load_cpu_busy, f.load_cores)
    )
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// With both processes idle enough, what remains is in-flight messages over a trip time: the
/// harness's window in a closed loop that fills it, else a client's own requests per round
/// trip over the link (the side that fell behind, when the link delays that side).
fn window(i: &LimitInputs, f: &LimitFigures) -> Option<(Limit, String)> {
    if let Some(reach) = f.window_reach_msgs_per_sec
        && i.published_per_sec >= WINDOW_HELD * reach
    {
        return Some((
            Limit::Window,
            format!(
                "the closed-loop window: {} messages in flight over a {} trip allow {} msg/s \
                 published, and {} were",
                text::count(i.window_messages),
                text::nanos(i.min_trip_ns as f64),
                text::count(reach),
                text::count(i.published_per_sec)
            ),
        ));
    }
    let publisher_behind = i
        .offered_per_sec
        .is_none_or(|o| i.published_per_sec < KEPT_UP * o);
    let rtt = text::nanos(i.link_rtt_ns as f64);
    if publisher_behind && i.link_sides.publishers {
        return Some((
            Limit::Window,
            format!(
                "the publisher's own window over the link: its publish requests each wait for a \
                 {rtt} round trip; {} msg/s published",
                text::count(i.published_per_sec)
            ),
        ));
    }
    (!publisher_behind && i.link_sides.subscribers).then(|| {
        (
            Limit::Window,
            format!(
                "the subscribers' own requests over the link: with both processes idle they \
                 fell behind the publisher, each poll or fetch waiting for a {rtt} round trip \
                 (a push delivery for half of one)"
            ),
        )
    })
}

/// The merged verdict of shards: theirs when they agree, else `unknown` naming each.
pub fn merged(
    parts: &[(Option<Limit>, Option<&LimitFigures>)],
) -> (Option<Limit>, Option<LimitFigures>) {
    let first = parts.first().and_then(|p| p.0);
    if parts.iter().all(|p| p.0 == first) {
        return (first, parts.first().and_then(|p| p.1.cloned()));
    }
    let each: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(n, p)| format!("shard {n}: {}", p.0.map_or("none", Limit::name)))
        .collect();
    let figures = LimitFigures {
        reason: format!("the shards disagree ({})", each.join(", ")),
        ..LimitFigures::default()
    };
    (Some(Limit::Unknown), Some(figures))
}

#[cfg(test)]
mod tests;
