//! Runs with consumers that fall behind, each beside its control: the run of the same transport
//! and load whose consumer classes all had share 0. The report's "Consumers that fall behind"
//! section and the server-memory-over-time chart both read these pairs, so prose and picture
//! describe the same runs. Per lagging consumer, what the server held beyond the control:
//! resident memory (user space) and, where the run measured it, bytes queued in the kernel's
//! socket send buffers.

use crate::results::consumers::ConsumerResult;
use crate::results::{RunResult, Summary};

/// One run whose consumers lagged, and what it is read against.
#[derive(Debug, Clone, Copy)]
pub struct Lagging<'a> {
    /// The run.
    pub run: &'a RunResult,
    /// Same transport and tags with every class's share 0, if the scenario ran it.
    pub control: Option<&'a RunResult>,
    /// Its lagging class (the first with subscribers).
    pub class: &'a ConsumerResult,
    /// Its full-speed subscribers.
    pub full: Option<&'a ConsumerResult>,
}

/// Subscribers in classes that lag by design.
pub fn lagging_subscribers(run: &RunResult) -> u32 {
    run.consumers
        .iter()
        .filter(|c| c.behaviour != "full")
        .map(|c| c.subscribers)
        .sum()
}

/// Every run with lagging subscribers, in summary order.
pub fn lagging_runs(summary: &Summary) -> Vec<Lagging<'_>> {
    summary
        .runs
        .iter()
        .filter(|r| lagging_subscribers(r) > 0)
        .filter_map(|run| {
            let class = run
                .consumers
                .iter()
                .find(|c| c.behaviour != "full" && c.subscribers > 0)?;
            Some(Lagging {
                run,
                control: control_of(summary, run),
                class,
                full: run.consumers.iter().find(|c| c.behaviour == "full"),
            })
        })
        .collect()
}

/// The run of the same transport and load with every consumer class at share 0.
fn control_of<'a>(summary: &'a Summary, run: &RunResult) -> Option<&'a RunResult> {
    let zero = |r: &RunResult| {
        r.tags
            .iter()
            .filter(|(k, _)| k.ends_with("_share"))
            .all(|(_, v)| v == "0")
    };
    let same_load = |r: &RunResult| {
        r.transport == run.transport
            && r.repetition == run.repetition
            && r.tags
                .iter()
                .filter(|(k, _)| !k.ends_with("_share"))
                .all(|(k, v)| run.tags.get(k) == Some(v))
    };
    summary.runs.iter().find(|r| zero(r) && same_load(r))
}

impl Lagging<'_> {
    /// Lagging subscribers in the run.
    pub fn lagging(&self) -> u32 {
        lagging_subscribers(self.run)
    }

    /// Peak server resident memory beyond the control's, per lagging subscriber.
    pub fn rss_per_lagging(&self) -> Option<f64> {
        self.peak_per_lagging(|r| r.cost.resources.server.rss_bytes_peak)
    }

    /// Peak bytes in the kernel's send queues of the server's sockets beyond the control's,
    /// per lagging subscriber: what waits for a slow reader outside the server's own memory.
    pub fn kernel_per_lagging(&self) -> Option<f64> {
        self.peak_per_lagging(|r| r.cost.resources.server.peaks.send_queue_bytes_peak)
    }

    /// Peak bytes in the transport's per-subscriber queues beyond the control's, per lagging
    /// subscriber (part of the resident memory, named).
    pub fn queued_per_lagging(&self) -> Option<f64> {
        self.peak_per_lagging(|r| r.cost.resources.server.peaks.queued_bytes_peak)
    }

    fn peak_per_lagging(&self, peak: fn(&RunResult) -> Option<u64>) -> Option<f64> {
        let (run, control) = (peak(self.run)?, peak(self.control?)?);
        Some((run as f64 - control as f64) / f64::from(self.lagging().max(1)))
    }

    /// The most payload bytes one lagging consumer of its class was behind (its backlog).
    pub fn backlog_bytes(&self) -> Option<f64> {
        let behind = self.class.max_lag_messages?;
        Some(behind as f64 * self.run.payload_bytes as f64)
    }

    /// Resident plus kernel bytes per lagging subscriber; unavailable unless both were read.
    pub fn total_per_lagging(&self) -> Option<f64> {
        Some(self.rss_per_lagging()? + self.kernel_per_lagging()?)
    }

    /// How fast server memory grew while the consumers lagged: the slope of resident memory
    /// over the measured window's seconds (first to peak), per lagging subscriber per second.
    pub fn rss_growth_per_lagging_per_sec(&self) -> Option<f64> {
        let rss: Vec<(u32, u64)> = self
            .run
            .timeseries
            .iter()
            .filter_map(|p| Some((p.second, p.server_rss_bytes?)))
            .collect();
        let first = *rss.first()?;
        let peak = *rss.iter().max_by_key(|(_, b)| *b)?;
        let secs = f64::from(peak.0.checked_sub(first.0).filter(|s| *s > 0)?);
        Some((peak.1 as f64 - first.1 as f64) / secs / f64::from(self.lagging().max(1)))
    }

    /// Full-speed subscribers' p50 and p99 over the control run's (1 = untouched).
    pub fn isolation(&self) -> Option<(f64, f64)> {
        let full = self.full?.latency_ns?;
        let control = self.control?.latency.latency_ns;
        (control.p50 > 0 && control.p99 > 0).then(|| {
            (
                full.p50 as f64 / control.p50 as f64,
                full.p99 as f64 / control.p99 as f64,
            )
        })
    }

    /// Counters that say what the transport's policy did (disconnects, resumes, drops, time
    /// publishers were blocked), beyond the control's.
    pub fn policy(&self) -> Vec<(String, u64)> {
        const WORDS: [&str; 7] = [
            "slow_consumer",
            "disconnect",
            "resume",
            "dropped",
            "blocked",
            "evict",
            "reconnect",
        ];
        let before = |k: &str| {
            self.control
                .and_then(|c| c.traffic.counters.get(k))
                .copied()
                .unwrap_or(0)
        };
        self.run
            .traffic
            .counters
            .iter()
            .filter(|(k, _)| WORDS.iter().any(|w| k.contains(w)))
            .map(|(k, &v)| (k.clone(), v.saturating_sub(before(k))))
            .filter(|(_, v)| *v > 0)
            .collect()
    }
}
