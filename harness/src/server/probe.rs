//! The seam the runner reads server-side figures through, whatever the server's placement:
//! in-process (the shared stats directly), child process or remote (its metrics endpoint).
//! The runner takes a [`ServerSnapshot`] at connect, window start and window end and reports
//! [`ServerDelta`]s between them.

use std::collections::BTreeMap;
use std::time::Duration;

use transport_core::WireSnapshot;

use super::metrics::MetricsSource;
use super::scrape::{ScrapeError, scrape};
use super::snapshot::ServerSnapshot;

/// Where a server's figures come from.
#[derive(Debug, Clone)]
pub enum ServerProbe {
    /// The server runs inside the harness: its stats are read directly. Its process figures
    /// would be the harness's own, so they are reported unavailable.
    InProcess(MetricsSource),
    /// A child or remote server's `serve --metrics` endpoint.
    Metrics {
        /// `http://ADDR/metrics`.
        url: String,
        /// Deadline for one scrape.
        timeout: Duration,
    },
}

impl ServerProbe {
    /// The server's figures now.
    pub async fn snapshot(&self) -> Result<ServerSnapshot, ScrapeError> {
        match self {
            ServerProbe::InProcess(source) => Ok(source.transport_snapshot()),
            ServerProbe::Metrics { url, timeout } => scrape(url, *timeout).await,
        }
    }
}

/// What happened on the server between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerDelta {
    /// Counter increments (a counter absent earlier counts from zero).
    pub counters: BTreeMap<String, u64>,
    /// Wire bytes and connections added.
    pub wire: WireSnapshot,
    /// CPU seconds in user mode, when both snapshots measured the process.
    pub cpu_user_s: Option<f64>,
    /// CPU seconds in the kernel, when both snapshots measured the process.
    pub cpu_system_s: Option<f64>,
}

impl ServerSnapshot {
    /// The change from `earlier` to `self`. Counters are monotonic; a decrease (a restarted
    /// server) saturates at zero rather than wrapping.
    pub fn delta_since(&self, earlier: &ServerSnapshot) -> ServerDelta {
        let counters = self
            .counters
            .iter()
            .map(|(k, &v)| {
                let before = earlier.counters.get(k).copied().unwrap_or(0);
                (k.clone(), v.saturating_sub(before))
            })
            .collect();
        let (a, b) = (&earlier.wire, &self.wire);
        let wire = WireSnapshot {
            read: b.read.saturating_sub(a.read),
            written: b.written.saturating_sub(a.written),
            handshake_read: b.handshake_read.saturating_sub(a.handshake_read),
            handshake_written: b.handshake_written.saturating_sub(a.handshake_written),
            connections: b.connections.saturating_sub(a.connections),
        };
        let cpu = match (&earlier.process, &self.process) {
            (Some(a), Some(b)) => Some((
                (b.cpu_user_s - a.cpu_user_s).max(0.0),
                (b.cpu_system_s - a.cpu_system_s).max(0.0),
            )),
            _ => None,
        };
        ServerDelta {
            counters,
            wire,
            cpu_user_s: cpu.map(|c| c.0),
            cpu_system_s: cpu.map(|c| c.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use transport_core::{Counters, WireStats};

    use super::super::resources::ProcessResources;
    use super::*;

    #[tokio::test]
    async fn in_process_probe_reads_stats_and_reports_no_process() {
        let source = MetricsSource {
            wire: WireStats::new(),
            counters: Counters::new(),
            server_port: None,
        };
        source.counters.counter("server_polls").add(3);
        let snap = ServerProbe::InProcess(source.clone())
            .snapshot()
            .await
            .unwrap();
        assert_eq!(snap.counters["server_polls"], 3);
        assert_eq!(
            snap.process, None,
            "in-process figures are the harness's own"
        );
    }

    #[test]
    fn deltas_subtract_and_need_both_process_readings() {
        let p = |u: f64| ProcessResources {
            cpu_user_s: u,
            cpu_system_s: u / 2.0,
            rss_bytes: 1,
            rss_peak_bytes: 1,
            threads: 1,
            open_fds: 1,
            open_sockets: 0,
        };
        let snap = |bytes: u64, polls: u64, process| ServerSnapshot {
            counters: [("polls".to_owned(), polls)].into(),
            gauges: BTreeMap::new(),
            send_queue_bytes: None,
            wire: WireSnapshot {
                read: bytes,
                written: 2 * bytes,
                handshake_read: 5,
                handshake_written: 7,
                connections: 1,
            },
            process,
        };
        let d = snap(1000, 9, Some(p(3.0))).delta_since(&snap(400, 4, Some(p(1.0))));
        assert_eq!(
            (d.wire.read, d.wire.written, d.wire.handshake_read),
            (600, 1200, 0)
        );
        assert_eq!(d.counters["polls"], 5);
        assert_eq!((d.cpu_user_s, d.cpu_system_s), (Some(2.0), Some(1.0)));
        let d = snap(1000, 9, Some(p(3.0))).delta_since(&snap(400, 4, None));
        assert_eq!(d.cpu_user_s, None, "unavailable, never zero");
    }
}
