//! Samples of the server's and the load generator's processes at the run's instants (before
//! subscribers connect, all connected, window start, window end, after the drain), turned into
//! `resources.server` / `resources.load`, plus one sample at the end of every second of the
//! measured window for the timeseries. Each side is read in its own process: the server
//! through its metrics endpoint, the load generator from its own `/proc` entry. Every server
//! sample also reads what the server holds for its subscribers (queue and log gauges, kernel
//! send queues), in-process servers included, for the timeseries and the run's peaks.

use std::time::{Duration, Instant};

use transport_core::Transport;

use super::server::{RunServer, ServerSample};
use crate::results::resources::{
    Occupancy, OccupancyPeaks, ProcessFigures, Resources, RunSamples, ServerFigures,
};
use crate::server::resources::ProcessResources;

/// One process's samples, in the order the run takes them.
#[derive(Debug, Default)]
struct Track(Vec<Option<ProcessResources>>);

impl Track {
    /// The five samples, if every one of them could be taken.
    fn samples(&self) -> Option<RunSamples> {
        let s: Vec<ProcessResources> = self.0.iter().copied().collect::<Option<_>>()?;
        let [before, connected, window_start, window_end, end] = s.try_into().ok()?;
        Some(RunSamples {
            before,
            connected,
            window_start,
            window_end,
            end,
        })
    }
}

/// CPU seconds between two samples and the resident bytes at the second one.
fn second_of(
    prev: Option<ProcessResources>,
    now: Option<ProcessResources>,
) -> (Option<f64>, Option<u64>) {
    let cpu = prev
        .zip(now)
        .map(|(a, b)| (b.cpu_total_s() - a.cpu_total_s()).max(0.0));
    (cpu, now.map(|n| n.rss_bytes))
}

/// One sample of both sides.
#[derive(Debug, Clone, Copy, Default)]
struct Both {
    server: Option<ProcessResources>,
    load: Option<ProcessResources>,
    occupancy: Occupancy,
}

/// The figures of one second of the measured window, for the timeseries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SecondFigures {
    /// CPU seconds the server process spent in it.
    pub server_cpu_s: Option<f64>,
    /// The server's resident bytes at its end.
    pub server_rss_bytes: Option<u64>,
    /// CPU seconds the load generator spent in it.
    pub load_cpu_s: Option<f64>,
    /// The load generator's resident bytes at its end.
    pub load_rss_bytes: Option<u64>,
    /// What the server held for subscribers at its end.
    pub occupancy: Occupancy,
}

/// Both processes' samples for one run, and why the server could not be measured, if so.
#[derive(Debug, Default)]
pub struct ResourceLog {
    server: Track,
    load: Track,
    /// Both sides at the end of each second of the measured window.
    seconds: Vec<Both>,
    /// The highest occupancy seen in any sample.
    peaks: OccupancyPeaks,
    /// Set when the server is not a process of its own that we can read.
    pub server_unmeasured: Option<String>,
    /// Each process the server ran as, when a restart replaced it.
    pub incarnations: Vec<crate::results::resources::Incarnation>,
}

impl ResourceLog {
    /// A log for a run whose server is `server`.
    pub fn new<T: Transport>(server: &RunServer<T>) -> ResourceLog {
        ResourceLog {
            server_unmeasured: server.unmeasured_reason().map(str::to_owned),
            ..ResourceLog::default()
        }
    }

    /// Samples both processes now.
    pub async fn take<T: Transport>(&mut self, server: &RunServer<T>) {
        let b = self.both(server).await;
        self.server.0.push(b.server);
        self.load.0.push(b.load);
    }

    async fn both<T: Transport>(&mut self, server: &RunServer<T>) -> Both {
        let load = ProcessResources::of_self().ok();
        let ServerSample {
            process,
            gauges,
            occupancy,
            fresh,
        } = server.sample().await;
        let occupancy = occupancy.unwrap_or_default();
        self.peaks.raise(&occupancy);
        if fresh {
            self.peaks.raise_to_gauge_peaks(&gauges);
        }
        Both {
            server: process.filter(|_| self.server_unmeasured.is_none()),
            load,
            occupancy,
        }
    }

    /// Samples the measured window `start..end`: at its start, at the end of every whole second
    /// inside it, and at its end (which also closes the last second).
    pub async fn take_window<T: Transport>(
        &mut self,
        server: &RunServer<T>,
        start: Instant,
        end: Instant,
    ) {
        self.take_at(server, start).await;
        let mut next = start + Duration::from_secs(1);
        while next < end {
            tokio::time::sleep_until(next.into()).await;
            let sample = self.both(server).await;
            self.seconds.push(sample);
            next += Duration::from_secs(1);
        }
        tokio::time::sleep_until(end.into()).await;
        let last = self.both(server).await;
        self.server.0.push(last.server);
        self.load.0.push(last.load);
        self.seconds.push(last);
    }

    /// Per second of the measured window: CPU seconds each side spent in it, resident bytes
    /// and the server's occupancy at its end; `None` where a sample is missing.
    pub fn per_second(&self) -> Vec<SecondFigures> {
        let start = |t: &Track| t.0.get(2).copied().flatten();
        let mut prev = (start(&self.server), start(&self.load));
        self.seconds
            .iter()
            .map(|b| {
                let (server_cpu_s, server_rss_bytes) = second_of(prev.0, b.server);
                let (load_cpu_s, load_rss_bytes) = second_of(prev.1, b.load);
                prev = (b.server, b.load);
                SecondFigures {
                    server_cpu_s,
                    server_rss_bytes,
                    load_cpu_s,
                    load_rss_bytes,
                    occupancy: b.occupancy,
                }
            })
            .collect()
    }

    /// Sleeps until `at`, then samples both processes.
    pub async fn take_at<T: Transport>(&mut self, server: &RunServer<T>, at: Instant) {
        tokio::time::sleep_until(at.into()).await;
        self.take(server).await;
    }

    /// The run's figures: `delivered` messages in the measured window, `subscribers` connected.
    pub fn figures(&self, delivered: u64, subscribers: u32) -> Resources {
        let host = crate::results::environment::hostname();
        let side = |track: &Track, unmeasured: Option<&str>| match (unmeasured, track.samples()) {
            (Some(reason), _) => ProcessFigures::unavailable(reason),
            (None, Some(s)) => ProcessFigures::measured(&s, delivered, subscribers, host.clone()),
            (None, None) => {
                ProcessFigures::unavailable("a sample of the process could not be read")
            }
        };
        Resources {
            server: ServerFigures {
                process: side(&self.server, self.server_unmeasured.as_deref()),
                peaks: self.peaks,
                incarnations: self.incarnations.clone(),
            },
            load: side(&self.load, None),
        }
    }
}
