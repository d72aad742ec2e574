//! Samples of the server's and the load generator's processes at the run's instants (before
//! subscribers connect, all connected, window start, window end, after the drain), turned into
//! `resources.server` / `resources.load`. Each side is read in its own process: the server
//! through its metrics endpoint, the load generator from its own `/proc` entry.

use std::time::Instant;

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

/// Both processes' samples for one run, and why the server could not be measured, if so.
#[derive(Debug, Default)]
pub struct ResourceLog {
    server: Track,
    load: Track,
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
        self.load.0.push(ProcessResources::of_self().ok());
        self.server.0.push(match self.server_unmeasured {
            Some(_) => None,
            None => server.sample().await,
        });
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
