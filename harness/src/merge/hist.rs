//! The exact part of a merge: whole-run latency histograms added (HdrHistogram `add`), and
//! per-second interval histograms re-read from each shard's interval log and added second by
//! second after aligning the logs by their wall-clock start.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use crate::results::histogram::latency_histogram;

/// Adds histograms exactly; they all share the latency shape, so `add` cannot overflow it.
pub fn add_all<'a>(
    hs: impl IntoIterator<Item = &'a Histogram<u64>>,
) -> anyhow::Result<Histogram<u64>> {
    let mut out = latency_histogram();
    for h in hs {
        out.add(h)
            .map_err(|e| anyhow::anyhow!("adding histograms: {e:?}"))?;
    }
    Ok(out)
}

/// One shard's interval log: its wall-clock anchor and one histogram per second.
#[derive(Debug)]
pub struct IntervalLog {
    /// `BaseTime` (or `StartTime`) of the log: the wall-clock instant its offsets count from.
    pub start: SystemTime,
    /// Histograms by whole second from `start`; seconds with no interval line are empty.
    pub seconds: Vec<Histogram<u64>>,
}

/// Reads an interval log written by `results::write::write_run_files`.
pub fn read_interval_log(path: &Path) -> anyhow::Result<IntervalLog> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut start, mut base) = (None, None);
    let mut seconds: Vec<Histogram<u64>> = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| anyhow::anyhow!("parsing {}: {e:?}", path.display()))?;
        match entry {
            LogEntry::StartTime(t) => start = Some(t),
            LogEntry::BaseTime(t) => base = Some(t),
            LogEntry::Interval(i) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .with_context(|| format!("decoding an interval of {}", path.display()))?;
                let h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .map_err(|e| {
                        anyhow::anyhow!("decoding an interval of {}: {e:?}", path.display())
                    })?;
                let second = i.start_timestamp().as_secs_f64().round() as usize;
                while seconds.len() <= second {
                    seconds.push(latency_histogram());
                }
                seconds[second]
                    .add(&h)
                    .map_err(|e| anyhow::anyhow!("interval of {}: {e:?}", path.display()))?;
            }
        }
    }
    let anchor = base
        .or(start)
        .ok_or_else(|| anyhow::anyhow!("{} has neither BaseTime nor StartTime", path.display()))?;
    Ok(IntervalLog {
        start: SystemTime::UNIX_EPOCH + anchor,
        seconds,
    })
}

/// Whole seconds from `first` to `start`: where a shard's second 0 lands in the merged run.
pub fn shift(start: SystemTime, first: SystemTime) -> usize {
    start
        .duration_since(first)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        .round() as usize
}

/// Adds logs second by second on a common wall clock: each log's seconds shift by its start's
/// distance from the earliest start, rounded to whole seconds. Returns the earliest start and
/// the merged seconds.
pub fn align(logs: &[IntervalLog]) -> anyhow::Result<(SystemTime, Vec<Histogram<u64>>)> {
    let Some(first) = logs.iter().map(|l| l.start).min() else {
        return Ok((SystemTime::UNIX_EPOCH, Vec::new()));
    };
    let mut out: Vec<Histogram<u64>> = Vec::new();
    for log in logs {
        let shift = shift(log.start, first);
        for (i, h) in log.seconds.iter().enumerate() {
            while out.len() <= shift + i {
                out.push(latency_histogram());
            }
            out[shift + i]
                .add(h)
                .map_err(|e| anyhow::anyhow!("adding interval histograms: {e:?}"))?;
        }
    }
    Ok((first, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(values: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn logs_align_by_wall_clock_and_add_exactly() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let a = IntervalLog {
            start: t0,
            seconds: vec![h(&[10]), h(&[20])],
        };
        // Starts 1.2 s later: its second 0 lands in the merged second 1.
        let b = IntervalLog {
            start: t0 + Duration::from_millis(1_200),
            seconds: vec![h(&[30, 40]), h(&[50])],
        };
        let (start, merged) = align(&[b, a]).unwrap();
        assert_eq!(start, t0);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0], h(&[10]));
        assert_eq!(merged[1], h(&[20, 30, 40]));
        assert_eq!(merged[2], h(&[50]));
    }

    #[test]
    fn a_written_interval_log_reads_back_with_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let seconds = vec![h(&[1_000, 2_000]), h(&[]), h(&[5_000_000])];
        let files =
            crate::results::write::write_run_files(dir.path(), "x=1", &h(&[1]), &seconds, started)
                .unwrap();
        let log = read_interval_log(&dir.path().join(files.interval_log)).unwrap();
        assert_eq!(log.start, started);
        assert_eq!(log.seconds, seconds);
    }
}
