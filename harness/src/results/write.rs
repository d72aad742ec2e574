//! Writes a results folder: `summary.json`, and per run a `.hgrm` percentile file, an
//! HdrHistogram interval log (V2 + DEFLATE, readable by the Java HdrHistogram tools) and the
//! whole latency histogram (`.hdr`, V2 + DEFLATE, so `merge` can add it exactly). Every file
//! is written to a temporary name and renamed, so a reader never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::hgrm;
use super::summary::{RunFiles, Summary};

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// A file-name-safe form of a run name (`payload=100B,rate=1000` → `payload-100B_rate-1000`).
pub fn slug(name: &str) -> String {
    name.replace('=', "-")
        .replace(',', "_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes one run's histogram files under `dir/runs/` and returns their relative paths.
pub fn write_run_files(
    dir: &Path,
    run_name: &str,
    latency: &Histogram<u64>,
    intervals: &[Histogram<u64>],
    started: SystemTime,
) -> anyhow::Result<RunFiles> {
    let slug = slug(run_name);
    let hgrm_rel = format!("runs/{slug}.hgrm");
    atomic_write(&dir.join(&hgrm_rel), hgrm::render(latency).as_bytes())?;

    let mut log = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "transport-bench latency from intended send, run {run_name}; values in ns"
            ))
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut log, &mut serializer)
            .context("starting interval log")?;
        for (i, h) in intervals.iter().enumerate() {
            writer
                .write_histogram(
                    h,
                    Duration::from_secs(i as u64),
                    Duration::from_secs(1),
                    None,
                )
                .map_err(|e| anyhow::anyhow!("writing interval {i}: {e:?}"))?;
        }
    }
    let hlog_rel = format!("runs/{slug}.hlog");
    atomic_write(&dir.join(&hlog_rel), &log)?;
    let hdr_rel = format!("runs/{slug}.hdr");
    write_histogram(&dir.join(&hdr_rel), latency)?;
    Ok(RunFiles {
        hgrm: hgrm_rel,
        interval_log: hlog_rel,
        latency_hdr: Some(hdr_rel),
    })
}

/// Writes one histogram, V2 + DEFLATE encoded (the Java tools' compressed form).
pub fn write_histogram(path: &Path, h: &Histogram<u64>) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("encoding {}: {e:?}", path.display()))?;
    atomic_write(path, &bytes)
}

/// Reads a histogram written by [`write_histogram`] (V2, compressed or not).
pub fn read_histogram(path: &Path) -> anyhow::Result<Histogram<u64>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("decoding {}: {e:?}", path.display()))
}

/// Writes `summary.json` into `dir`.
pub fn write_summary(dir: &Path, summary: &Summary) -> anyhow::Result<PathBuf> {
    let path = dir.join("summary.json");
    let mut json = serde_json::to_vec_pretty(summary)?;
    json.push(b'\n');
    atomic_write(&path, &json)?;
    Ok(path)
}

/// Reads `summary.json` from a results folder or a direct path.
pub fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn interval_log_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = crate::results::histogram::latency_histogram();
        h.record(12_345).unwrap();
        let files = write_run_files(
            dir.path(),
            "transport=raw-tcp,rate=10",
            &h,
            &[h.clone(), h.clone()],
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(files.hgrm, "runs/transport-raw-tcp_rate-10.hgrm");
        let log = std::fs::read(dir.path().join(&files.interval_log)).unwrap();
        let intervals = IntervalLogIterator::new(&log)
            .filter(|e| matches!(e, Ok(LogEntry::Interval(_))))
            .count();
        assert_eq!(intervals, 2);
        let back = read_histogram(&dir.path().join(files.latency_hdr.unwrap())).unwrap();
        assert_eq!(back, h, "the .hdr file holds the whole histogram exactly");
    }
}
