//! What the runner learns from a server at one instant: its transport counters and gauges, its
//! wire bytes, the bytes the kernel holds in its connections' send queues, and (when
//! measurable) its process resources. The metric names of the `serve --metrics`
//! endpoint live here, so the encoder ([`super::metrics`]) and the parser ([`super::parse`])
//! cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use transport_core::{GaugeReading, WireSnapshot};

use super::parse::{ParseError, Sample};
use super::resources::ProcessResources;

/// Metric names as they appear on the wire (counters carry their `_total` suffix).
pub mod names {
    /// CPU seconds, user plus system (Prometheus convention).
    pub const CPU: &str = "process_cpu_seconds_total";
    /// CPU seconds in user mode.
    pub const CPU_USER: &str = "process_cpu_user_seconds_total";
    /// CPU seconds in the kernel.
    pub const CPU_SYSTEM: &str = "process_cpu_system_seconds_total";
    /// Resident memory now (Prometheus convention).
    pub const RSS: &str = "process_resident_memory_bytes";
    /// Peak resident memory (`VmHWM`).
    pub const RSS_PEAK: &str = "process_resident_memory_peak_bytes";
    /// Open descriptors (Prometheus convention).
    pub const FDS: &str = "process_open_fds";
    /// Open sockets, listeners included.
    pub const SOCKETS: &str = "process_open_sockets";
    /// Threads.
    pub const THREADS: &str = "process_threads";
    /// Wire bytes, labelled `direction` (`read`/`written`) and `phase` (`steady`/`handshake`).
    pub const WIRE: &str = "transport_wire_bytes_total";
    /// Connections the server has accepted (and wrapped for counting) so far.
    pub const CONNECTIONS: &str = "transport_connections_total";
    /// The transport's own counters, labelled `name`.
    pub const EVENTS: &str = "transport_events_total";
    /// The transport's gauges now (`server_queued_messages`...), labelled `name`.
    pub const GAUGE: &str = "transport_gauge";
    /// The highest level each gauge reached, labelled `name`.
    pub const GAUGE_PEAK: &str = "transport_gauge_peak";
    /// Bytes in the kernel send queues of the server's connections (`SIOCOUTQ` summed).
    pub const SEND_QUEUE: &str = "transport_socket_send_queue_bytes";
}

/// A server's figures at one instant, as served by `serve --metrics` and read back by a scrape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSnapshot {
    /// The transport's counters (`transport_core::Counters::counter_values`).
    pub counters: BTreeMap<String, u64>,
    /// The transport's gauges, level and peak (`transport_core::Counters::gauge_values`); a
    /// gauge the transport does not keep is absent.
    #[serde(default)]
    pub gauges: BTreeMap<String, GaugeReading>,
    /// Bytes waiting in the kernel send queues of the server's connections
    /// ([`transport_core::sendq`]); `None` when they could not be read.
    #[serde(default)]
    pub send_queue_bytes: Option<u64>,
    /// Server-side wire bytes by direction and phase, and connections so far.
    pub wire: WireSnapshot,
    /// The server process's resources; `None` when the server could not measure them.
    pub process: Option<ProcessResources>,
}

/// The label pairs of each [`WireSnapshot`] byte field, in one place for encoder and parser.
pub(crate) const WIRE_SERIES: [(&str, &str); 4] = [
    ("read", "steady"),
    ("written", "steady"),
    ("read", "handshake"),
    ("written", "handshake"),
];

/// The byte field of `wire` for one `(direction, phase)` pair of [`WIRE_SERIES`].
pub(crate) fn wire_field<'w>(
    wire: &'w mut WireSnapshot,
    direction: &str,
    phase: &str,
) -> &'w mut u64 {
    match (direction, phase) {
        ("read", "steady") => &mut wire.read,
        ("written", "steady") => &mut wire.written,
        ("read", "handshake") => &mut wire.handshake_read,
        _ => &mut wire.handshake_written,
    }
}

/// The byte count of `wire` for one `(direction, phase)` pair of [`WIRE_SERIES`].
pub(crate) fn wire_value(wire: &WireSnapshot, direction: &str, phase: &str) -> u64 {
    *wire_field(&mut wire.clone(), direction, phase)
}

impl ServerSnapshot {
    /// Reads exposition text (a `GET /metrics` body) into a snapshot.
    pub fn from_text(text: &str) -> Result<ServerSnapshot, ParseError> {
        Self::from_samples(&super::parse::parse(text)?)
    }

    /// Builds a snapshot from parsed exposition samples. Wire bytes and connections are required
    /// (without them this is not a transport-bench server); process figures are all-or-nothing.
    pub fn from_samples(samples: &[Sample]) -> Result<ServerSnapshot, ParseError> {
        let find = |name: &str, labels: &[(&str, &str)]| {
            samples.iter().find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.label(k) == Some(v))
            })
        };
        let exact = |name: &str, labels: &[(&str, &str)]| -> Result<u64, ParseError> {
            let s = find(name, labels).ok_or_else(|| ParseError::missing(name, labels))?;
            s.value.as_u64().ok_or_else(|| ParseError::not_integer(s))
        };
        let mut wire = WireSnapshot {
            connections: exact(names::CONNECTIONS, &[])?,
            ..WireSnapshot::default()
        };
        for (direction, phase) in WIRE_SERIES {
            *wire_field(&mut wire, direction, phase) =
                exact(names::WIRE, &[("direction", direction), ("phase", phase)])?;
        }
        let mut counters = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == names::EVENTS) {
            let name = s
                .label("name")
                .ok_or_else(|| ParseError::missing(names::EVENTS, &[]))?;
            let value = s.value.as_u64().ok_or_else(|| ParseError::not_integer(s))?;
            counters.insert(name.to_owned(), value);
        }
        let process = process_from(|n| find(n, &[]).map(|s| s.value))?;
        let send_queue_bytes = match find(names::SEND_QUEUE, &[]) {
            Some(s) => Some(s.value.as_u64().ok_or_else(|| ParseError::not_integer(s))?),
            None => None,
        };
        Ok(ServerSnapshot {
            counters,
            gauges: gauges_from(samples)?,
            send_queue_bytes,
            wire,
            process,
        })
    }
}

/// The gauges by name: a level from [`names::GAUGE`], its peak from [`names::GAUGE_PEAK`] (the
/// level itself when a server sent none). A server without gauges gives an empty map.
fn gauges_from(samples: &[Sample]) -> Result<BTreeMap<String, GaugeReading>, ParseError> {
    let named = |metric: &'static str| {
        samples
            .iter()
            .filter(move |s| s.name == metric)
            .map(move |s| {
                let name = s
                    .label("name")
                    .ok_or_else(|| ParseError::missing(metric, &[]))?;
                let v = s.value.as_i64().ok_or_else(|| ParseError::not_integer(s))?;
                Ok::<_, ParseError>((name.to_owned(), v))
            })
    };
    let mut gauges = BTreeMap::new();
    for g in named(names::GAUGE) {
        let (name, value) = g?;
        gauges.insert(name, GaugeReading { value, peak: value });
    }
    for p in named(names::GAUGE_PEAK) {
        let (name, peak) = p?;
        if let Some(g) = gauges.get_mut(&name) {
            g.peak = peak;
        }
    }
    Ok(gauges)
}

/// Process figures when every one is present; `None` when none is; an error for a partial set
/// (a half-measured process would silently turn missing figures into zeros downstream).
fn process_from(
    get: impl Fn(&str) -> Option<super::parse::Value>,
) -> Result<Option<ProcessResources>, ParseError> {
    let all = [
        names::CPU_USER,
        names::CPU_SYSTEM,
        names::RSS,
        names::RSS_PEAK,
        names::THREADS,
        names::FDS,
        names::SOCKETS,
    ];
    let found: Vec<_> = all.iter().map(|n| get(n)).collect();
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    let int = |i: usize| -> Result<u64, ParseError> {
        found[i]
            .ok_or_else(|| ParseError::missing(all[i], &[]))?
            .as_u64()
            .ok_or_else(|| ParseError::Invalid(format!("{} is not an integer", all[i])))
    };
    let float = |i: usize| -> Result<f64, ParseError> {
        Ok(found[i]
            .ok_or_else(|| ParseError::missing(all[i], &[]))?
            .as_f64())
    };
    Ok(Some(ProcessResources {
        cpu_user_s: float(0)?,
        cpu_system_s: float(1)?,
        rss_bytes: int(2)?,
        rss_peak_bytes: int(3)?,
        threads: int(4)?,
        open_fds: int(5)?,
        open_sockets: int(6)?,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{metrics::encode, parse::parse};
    use super::*;

    fn process() -> impl Strategy<Value = Option<ProcessResources>> {
        let f = (0u64..1 << 40).prop_map(|t| t as f64 / 100.0);
        let n = 0u64..1 << 50;
        proptest::option::of(
            (f.clone(), f, n.clone(), n.clone(), n.clone(), n.clone(), n).prop_map(
                |(u, s, rss, peak, threads, fds, sockets)| ProcessResources {
                    cpu_user_s: u,
                    cpu_system_s: s,
                    rss_bytes: rss,
                    rss_peak_bytes: peak,
                    threads,
                    open_fds: fds,
                    open_sockets: sockets,
                },
            ),
        )
    }

    proptest! {
        /// Our own output reads back exactly, byte counts up to u64::MAX included.
        #[test]
        fn encode_then_parse_is_identity(
            wire in any::<[u64; 5]>(),
            counters in proptest::collection::btree_map("[a-z_]{1,12}|.{0,8}", any::<u64>(), 0..6),
            gauges in proptest::collection::btree_map(
                "[a-z_]{1,12}",
                (-(1i64 << 40)..1 << 50, 0i64..1 << 50)
                    .prop_map(|(value, peak)| GaugeReading { value, peak }),
                0..4,
            ),
            send_queue_bytes in proptest::option::of(any::<u64>()),
            process in process(),
        ) {
            let snap = ServerSnapshot {
                counters,
                gauges,
                send_queue_bytes,
                wire: WireSnapshot {
                    read: wire[0],
                    written: wire[1],
                    handshake_read: wire[2],
                    handshake_written: wire[3],
                    connections: wire[4],
                },
                process,
            };
            let text = encode(&snap);
            let back = ServerSnapshot::from_samples(&parse(&text).unwrap()).unwrap();
            prop_assert_eq!(back, snap, "{}", text);
        }
    }

    #[test]
    fn foreign_or_partial_metrics_are_refused() {
        let err = ServerSnapshot::from_samples(&parse("up 1\n").unwrap()).unwrap_err();
        assert!(matches!(err, ParseError::Missing(_)), "{err}");
        let mut text = encode(&ServerSnapshot {
            counters: BTreeMap::new(),
            gauges: BTreeMap::new(),
            send_queue_bytes: None,
            wire: WireSnapshot::default(),
            process: ProcessResources::of_self().ok(),
        });
        text = text.replace("process_threads", "other_threads");
        let err = ServerSnapshot::from_samples(&parse(&text).unwrap()).unwrap_err();
        assert!(err.to_string().contains("process_threads"), "{err}");
    }
}
