//! Samples of the server's and the load generator's processes at the run's instants (before
//! subscribers connect, all connected, window start, window end, after the drain), turned into
//! `resources.server` / `resources.load`, plus one sample at the end of every second of the
//! measured window for the timeseries. Each side is read in its own process: the server
//! through its metrics endpoint, the load generator from its own `/proc` entry.

use std::time::{Duration, Instant};

use transport_core::Transport;

use super::server::RunServer;
use crate::results::resources::{ProcessFigures, Resources, RunSamples};
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

/// Both processes' samples for one run, and why the server could not be measured, if so.
#[derive(Debug, Default)]
pub struct ResourceLog {
    server: Track,
    load: Track,
    /// (server, load) at the end of each second of the measured window.
    seconds: Vec<(Option<ProcessResources>, Option<ProcessResources>)>,
    /// Set when the server is not a process of its own that we can read.
    pub server_unmeasured: Option<String>,
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
        let (s, l) = self.both(server).await;
        self.server.0.push(s);
        self.load.0.push(l);
    }

    async fn both<T: Transport>(
        &self,
        server: &RunServer<T>,
    ) -> (Option<ProcessResources>, Option<ProcessResources>) {
        let load = ProcessResources::of_self().ok();
        let server = match self.server_unmeasured {
            Some(_) => None,
            None => server.sample().await,
        };
        (server, load)
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
        self.take_at(server, end).await;
        let (s, l) = (self.server.0.last(), self.load.0.last());
        self.seconds
            .push((s.copied().flatten(), l.copied().flatten()));
    }

    /// Per second of the measured window: (server, load) CPU seconds spent in it and resident
    /// bytes at its end; `None` where a sample is missing.
    pub fn per_second(&self) -> Vec<[(Option<f64>, Option<u64>); 2]> {
        let start = |t: &Track| t.0.get(2).copied().flatten();
        let mut prev = (start(&self.server), start(&self.load));
        self.seconds
            .iter()
            .map(|&(s, l)| {
                let second = [second_of(prev.0, s), second_of(prev.1, l)];
                prev = (s, l);
                second
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
            server: side(&self.server, self.server_unmeasured.as_deref()),
            load: side(&self.load, None),
        }
    }
}
