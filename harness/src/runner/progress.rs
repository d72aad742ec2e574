//! The live progress line on stderr while a run is in flight (only on a terminal, so CI logs
//! stay readable), and the one-line verdict after each run.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use transport_core::clock;

use super::recorder::RunShared;
use crate::scenario::RunSpec;

/// Where progress goes.
#[derive(Debug, Clone)]
pub struct Progress {
    live: bool,
    quiet: bool,
}

/// Stops the ticker when finished or dropped.
#[derive(Debug)]
pub struct Ticker(CancellationToken);

impl Ticker {
    /// Stops the live line.
    pub fn finish(self) {}
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Progress {
    /// Live updates if stderr is a terminal; nothing at all if `quiet`.
    pub fn new(quiet: bool) -> Self {
        Progress {
            live: !quiet && std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// Prints a line (unless quiet).
    pub fn line(&self, text: &str) {
        if !self.quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}{text}", if self.live { "\r\x1b[2K" } else { "" });
        }
    }

    /// Shows `connected N/M` while a run's `total` subscribers connect: live on a terminal,
    /// otherwise a line every few seconds (only for runs large enough to take that long).
    pub(crate) fn connecting(&self, spec: &RunSpec, connected: Arc<AtomicU64>) -> Ticker {
        let token = CancellationToken::new();
        if self.quiet {
            return Ticker(token);
        }
        let (name, total, live) = (spec.name(), spec.subscribers, self.live);
        let every = Duration::from_millis(if live { 250 } else { 5_000 });
        let stop = token.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut tick = tokio::time::interval_at(started + every, every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let n = connected.load(Relaxed);
                let secs = started.elapsed().as_secs_f64();
                let mut err = std::io::stderr().lock();
                let _ = if live {
                    write!(err, "\r\x1b[2K{name}  connected {n}/{total}  {secs:.0}s")
                } else {
                    writeln!(err, "{name}  connected {n}/{total} after {secs:.0}s")
                };
                let _ = err.flush();
            }
            if live {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
        });
        Ticker(token)
    }

    /// Starts the live line for a run.
    pub(crate) fn start_run(
        &self,
        spec: &RunSpec,
        shared: Arc<RunShared>,
        measure_start_ns: u64,
        measure_end_ns: u64,
    ) -> Ticker {
        let token = CancellationToken::new();
        if !self.live {
            return Ticker(token);
        }
        let name = spec.name();
        let stop = token.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut last = (clock::now_ns(), 0u64);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = clock::now_ns();
                let delivered = shared.delivered_total.load(Relaxed);
                let rate = (delivered - last.1) as f64 / ((now - last.0).max(1) as f64 / 1e9);
                last = (now, delivered);
                let phase = if now < measure_start_ns {
                    "warm-up".to_owned()
                } else if now < measure_end_ns {
                    format!(
                        "{:.1}s/{:.0}s",
                        (now - measure_start_ns) as f64 / 1e9,
                        (measure_end_ns - measure_start_ns) as f64 / 1e9
                    )
                } else {
                    "drain".to_owned()
                };
                let p99 = shared
                    .recent_p99_ns()
                    .map_or("-".to_owned(), |ns| format!("{:.3} ms", ns as f64 / 1e6));
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K{name}  {phase}  {rate:.0} msg/s  delivered {delivered}  p99 {p99}"
                );
                let _ = err.flush();
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        });
        Ticker(token)
    }
}
