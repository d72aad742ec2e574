//! What a run cost the server and the load generator, each measured in its own process: CPU
//! inside the measured window, memory before and after subscribers connected, threads and
//! descriptors. A side that could not be measured (an in-process server shares the load
//! generator's process; a remote server without a metrics endpoint) is reported unavailable,
//! with every figure null, never as zero.
//!
//! The server also reports what it holds for lagging subscribers ([`Occupancy`]): the transport's
//! queue and log gauges and the kernel's send queues. Those come from the transport and the
//! kernel, not from the process, so an in-process server has them too: they stand apart from
//! `available`, each null on its own when it could not be read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use transport_core::GaugeReading;
use transport_core::occupancy::{QUEUED_BYTES, QUEUED_MESSAGES, RETAINED_BYTES, RETAINED_MESSAGES};

use crate::server::ServerSnapshot;
use crate::server::resources::ProcessResources as ProcessSample;

/// The samples one run takes of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSamples {
    /// Before any subscriber connected.
    pub before: ProcessSample,
    /// With every client connected, before the first message.
    pub connected: ProcessSample,
    /// At the start of the measured window.
    pub window_start: ProcessSample,
    /// At the end of the measured window.
    pub window_end: ProcessSample,
    /// After the drain, before clients close: the peak covers the whole run.
    pub end: ProcessSample,
}

/// The per-run figures of one process (`resources.server` or `resources.load`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// False when this side could not be measured; every figure is then null.
    pub available: bool,
    /// Why it is unavailable, if it is.
    #[serde(default)]
    pub unavailable_reason: Option<String>,
    /// The host it ran on.
    pub host: Option<String>,
    /// User CPU inside the measured window, seconds.
    pub cpu_user_s: Option<f64>,
    /// System CPU inside the measured window, seconds.
    pub cpu_system_s: Option<f64>,
    /// CPU (user + system) inside the measured window per message delivered in it, ns.
    pub cpu_ns_per_delivered: Option<f64>,
    /// Resident memory before subscribers connected, bytes.
    pub rss_bytes_before: Option<u64>,
    /// Resident memory with every client connected and idle, bytes.
    pub rss_bytes_connected: Option<u64>,
    /// Peak resident memory over the run, bytes.
    pub rss_bytes_peak: Option<u64>,
    /// (connected − before) / subscribers: what one connected subscriber costs, bytes.
    pub rss_bytes_per_subscriber: Option<f64>,
    /// Threads with every client connected.
    pub threads: Option<u64>,
    /// Open descriptors with every client connected (sockets included).
    pub open_fds: Option<u64>,
}

/// `resources` of a run: the server's and the load generator's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// The server process, and what it held for its subscribers.
    pub server: ServerFigures,
    /// The load generator (this process).
    pub load: ProcessFigures,
}

/// `resources.server`: the server process's figures, with the run's peak occupancy beside them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerFigures {
    /// The process's figures (every incarnation's, when a restart replaced it).
    #[serde(flatten)]
    pub process: ProcessFigures,
    /// The highest occupancy over the run.
    #[serde(flatten)]
    pub peaks: OccupancyPeaks,
    /// Each process the server ran as, in order, when a `server-restart` replaced it (empty
    /// for a run without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incarnations: Vec<Incarnation>,
}

/// One process of the run's server, when a `server-restart` fault replaced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incarnation {
    /// Its process id, when it has a process of its own.
    pub pid: Option<u32>,
    /// When it started, seconds after the first one did.
    pub started_at_secs: f64,
    /// CPU seconds it spent, from its start to its last reading; null when unread.
    pub cpu_s: Option<f64>,
    /// Its resident peak (`VmHWM`), bytes; null when unread.
    pub rss_peak_bytes: Option<u64>,
    /// The signal that ended it (`kill`, `term`); null for the one that served to the end.
    pub ended_by: Option<crate::link::RestartSignal>,
}

impl Incarnation {
    /// An incarnation that started `started` after the first.
    pub fn new(pid: Option<u32>, started: std::time::Duration) -> Incarnation {
        Incarnation {
            pid,
            started_at_secs: started.as_secs_f64(),
            cpu_s: None,
            rss_peak_bytes: None,
            ended_by: None,
        }
    }

    /// Fills its figures from its last reading (CPU seconds, resident peak), and what ended it.
    pub fn close(
        &mut self,
        last: Option<(f64, u64)>,
        ended_by: Option<crate::link::RestartSignal>,
    ) {
        self.cpu_s = last.map(|l| l.0);
        self.rss_peak_bytes = last.map(|l| l.1);
        self.ended_by = ended_by;
    }
}

impl From<ProcessFigures> for ServerFigures {
    fn from(process: ProcessFigures) -> Self {
        ServerFigures {
            process,
            peaks: OccupancyPeaks::default(),
            incarnations: Vec::new(),
        }
    }
}

// Access to the process figures as before (`resources.server.cpu_ns_per_delivered`): the peaks
// were added beside them, the existing fields did not move, in the JSON or in code.
impl std::ops::Deref for ServerFigures {
    type Target = ProcessFigures;
    fn deref(&self) -> &ProcessFigures {
        &self.process
    }
}

impl std::ops::DerefMut for ServerFigures {
    fn deref_mut(&mut self) -> &mut ProcessFigures {
        &mut self.process
    }
}

/// What a server holds for its subscribers at one instant; `None` where it cannot be read (a
/// transport without that kind of queue or log, a server without a metrics endpoint, no
/// `/proc/net/tcp`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Occupancy {
    /// Bytes in the kernel send queues of the server's connections (`SIOCOUTQ`, summed).
    pub send_queue_bytes: Option<u64>,
    /// Messages waiting in per-subscriber queues (`server_queued_messages`).
    pub queued_messages: Option<u64>,
    /// Their bytes (`server_queued_bytes`).
    pub queued_bytes: Option<u64>,
    /// Messages a shared log retains (`server_retained_messages`).
    pub retained_messages: Option<u64>,
    /// Their bytes (`server_retained_bytes`).
    pub retained_bytes: Option<u64>,
}

/// A gauge's level as a count: absent, or negative (an accounting slip), is unavailable.
fn level(gauges: &BTreeMap<String, GaugeReading>, name: &str, peak: bool) -> Option<u64> {
    let g = gauges.get(name)?;
    u64::try_from(if peak { g.peak } else { g.value }).ok()
}

impl Occupancy {
    /// The levels in a server snapshot.
    pub fn of(s: &ServerSnapshot) -> Occupancy {
        let g = |name| level(&s.gauges, name, false);
        Occupancy {
            send_queue_bytes: s.send_queue_bytes,
            queued_messages: g(QUEUED_MESSAGES),
            queued_bytes: g(QUEUED_BYTES),
            retained_messages: g(RETAINED_MESSAGES),
            retained_bytes: g(RETAINED_BYTES),
        }
    }
}

/// The run's highest occupancy, in `resources.server`. Gauge peaks are exact when the server
/// was started for the run (the transport keeps the highest level at every change); for a
/// remote server, whose gauges outlive runs, and for the kernel's send queues, they are the
/// highest of the run's samples (its five instants and one per second).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OccupancyPeaks {
    /// Highest bytes in the kernel send queues of the server's connections.
    #[serde(default)]
    pub send_queue_bytes_peak: Option<u64>,
    /// Highest messages waiting in per-subscriber queues.
    #[serde(default)]
    pub queued_messages_peak: Option<u64>,
    /// Highest bytes waiting in per-subscriber queues.
    #[serde(default)]
    pub queued_bytes_peak: Option<u64>,
    /// Highest messages retained in shared logs.
    #[serde(default)]
    pub retained_messages_peak: Option<u64>,
    /// Highest bytes retained in shared logs.
    #[serde(default)]
    pub retained_bytes_peak: Option<u64>,
}

/// The larger of two readings; unavailable only if both are.
fn higher(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

impl OccupancyPeaks {
    /// Raises each peak to the level in `o`.
    pub fn raise(&mut self, o: &Occupancy) {
        self.send_queue_bytes_peak = higher(self.send_queue_bytes_peak, o.send_queue_bytes);
        self.queued_messages_peak = higher(self.queued_messages_peak, o.queued_messages);
        self.queued_bytes_peak = higher(self.queued_bytes_peak, o.queued_bytes);
        self.retained_messages_peak = higher(self.retained_messages_peak, o.retained_messages);
        self.retained_bytes_peak = higher(self.retained_bytes_peak, o.retained_bytes);
    }

    /// Raises the gauge peaks to the highest levels the transport itself recorded.
    pub fn raise_to_gauge_peaks(&mut self, gauges: &BTreeMap<String, GaugeReading>) {
        let p = |name| level(gauges, name, true);
        self.queued_messages_peak = higher(self.queued_messages_peak, p(QUEUED_MESSAGES));
        self.queued_bytes_peak = higher(self.queued_bytes_peak, p(QUEUED_BYTES));
        self.retained_messages_peak = higher(self.retained_messages_peak, p(RETAINED_MESSAGES));
        self.retained_bytes_peak = higher(self.retained_bytes_peak, p(RETAINED_BYTES));
    }
}

impl ProcessFigures {
    /// A side that could not be measured, and why.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        ProcessFigures {
            unavailable_reason: Some(reason.into()),
            ..Default::default()
        }
    }

    /// The figures of one run from its samples.
    pub fn measured(s: &RunSamples, delivered: u64, subscribers: u32, host: String) -> Self {
        let user = (s.window_end.cpu_user_s - s.window_start.cpu_user_s).max(0.0);
        let system = (s.window_end.cpu_system_s - s.window_start.cpu_system_s).max(0.0);
        // Per message from the total, not from the clamped parts: the total is exact (the
        // process CPU clock), its split between user and system follows whole clock ticks.
        let total = (s.window_end.cpu_total_s() - s.window_start.cpu_total_s()).max(0.0);
        let grown = s.connected.rss_bytes as f64 - s.before.rss_bytes as f64;
        ProcessFigures {
            available: true,
            unavailable_reason: None,
            host: Some(host),
            cpu_user_s: Some(user),
            cpu_system_s: Some(system),
            cpu_ns_per_delivered: (delivered > 0).then(|| total * 1e9 / delivered as f64),
            rss_bytes_before: Some(s.before.rss_bytes),
            rss_bytes_connected: Some(s.connected.rss_bytes),
            rss_bytes_peak: Some(s.end.rss_peak_bytes.max(s.end.rss_bytes)),
            rss_bytes_per_subscriber: (subscribers > 0).then(|| grown / f64::from(subscribers)),
            threads: Some(s.connected.threads),
            open_fds: Some(s.connected.open_fds),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu: f64, rss: u64) -> ProcessSample {
        ProcessSample {
            cpu_user_s: cpu,
            cpu_system_s: cpu / 2.0,
            rss_bytes: rss,
            rss_peak_bytes: rss,
            threads: 3,
            open_fds: 10,
            open_sockets: 4,
        }
    }

    #[test]
    fn figures_are_window_deltas_and_per_unit_ratios() {
        let s = RunSamples {
            before: sample(1.0, 10_000_000),
            connected: sample(1.5, 30_000_000),
            window_start: sample(2.0, 30_000_000),
            window_end: sample(4.0, 31_000_000),
            end: sample(4.5, 31_000_000),
        };
        let r = ProcessFigures::measured(&s, 1_000_000, 1000, "h".into());
        assert!(r.available);
        assert_eq!(r.cpu_user_s, Some(2.0));
        assert_eq!(r.cpu_system_s, Some(1.0));
        assert_eq!(r.cpu_ns_per_delivered, Some(3000.0));
        assert_eq!(r.rss_bytes_per_subscriber, Some(20_000.0));
        assert_eq!(r.rss_bytes_peak, Some(31_000_000));
    }

    #[test]
    fn peaks_are_the_highest_reading_and_null_only_when_nothing_was_read() {
        let mut p = OccupancyPeaks::default();
        p.raise(&Occupancy {
            send_queue_bytes: Some(10),
            queued_messages: Some(3),
            ..Occupancy::default()
        });
        p.raise(&Occupancy {
            send_queue_bytes: Some(4),
            queued_messages: None,
            ..Occupancy::default()
        });
        let gauges = [(
            QUEUED_MESSAGES.to_owned(),
            GaugeReading { value: 1, peak: 9 },
        )]
        .into();
        p.raise_to_gauge_peaks(&gauges);
        assert_eq!(p.send_queue_bytes_peak, Some(10));
        assert_eq!(
            p.queued_messages_peak,
            Some(9),
            "the gauge saw a spike between samples"
        );
        assert_eq!(p.retained_bytes_peak, None, "never read: null, not zero");
        let json = serde_json::to_value(ServerFigures {
            process: ProcessFigures::unavailable("in-process server"),
            peaks: p,
            incarnations: Vec::new(),
        })
        .unwrap();
        assert_eq!(json["queued_messages_peak"], 9);
        assert!(json["retained_bytes_peak"].is_null());
        assert_eq!(json["available"], false);
    }

    #[test]
    fn nothing_measured_is_null_not_zero() {
        let r = ProcessFigures::unavailable("in-process server");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["available"], false);
        assert!(json["cpu_ns_per_delivered"].is_null());
        assert!(json["rss_bytes_per_subscriber"].is_null());
        let idle = ProcessFigures::measured(
            &RunSamples {
                before: sample(0.0, 1),
                connected: sample(0.0, 1),
                window_start: sample(0.0, 1),
                window_end: sample(0.0, 1),
                end: sample(0.0, 1),
            },
            0,
            0,
            "h".into(),
        );
        assert_eq!(idle.cpu_ns_per_delivered, None, "no deliveries: no ratio");
        assert_eq!(idle.rss_bytes_per_subscriber, None);
    }
}
