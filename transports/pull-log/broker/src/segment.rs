//! Segment files for `storage = "file"`: each partition is a directory
//! `<data_dir>/<topic>-<partition>/` of files named by their first offset
//! (`00000000000000000000.log`), holding batches exactly as served. A new segment starts once
//! the current one reaches `segment_bytes`. On start, every segment is read back; a batch cut
//! short by a crash is truncated away.
//!
//! Writes go to the OS (page cache) before the produce is acknowledged, so a restarted broker
//! process keeps every acknowledged record; surviving power loss would need an fsync per
//! produce, which this benchmark broker does not pay.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::BrokerError;
use crate::batch::{self, StoredBatch};

/// Appends batches to a partition's active segment, rolling to a new file when it is full.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    /// Segment files in offset order; the last one is active.
    segments: std::collections::VecDeque<PathBuf>,
    file: Option<File>,
    size: u64,
    segment_bytes: u64,
}

fn segment_name(base: i64) -> String {
    format!("{base:020}.log")
}

/// The directory of `topic`'s `partition` (topic names are validated to `[A-Za-z0-9._-]`).
pub(crate) fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

impl SegmentWriter {
    /// A writer for the partition directory `dir` (created if missing). The next append
    /// continues the last existing segment if it has room.
    pub(crate) fn open(dir: PathBuf, segment_bytes: u64) -> std::io::Result<Self> {
        fs::create_dir_all(&dir)?;
        let mut w = SegmentWriter {
            segments: list_segments(&dir)?.into(),
            dir,
            file: None,
            size: 0,
            segment_bytes,
        };
        if let Some(last) = w.segments.back() {
            let file = OpenOptions::new().append(true).open(last)?;
            w.size = file.metadata()?.len();
            w.file = Some(file);
        }
        Ok(w)
    }

    /// Writes `batches` (whose first offset is `base`) to the active segment.
    pub(crate) fn append<'a>(
        &mut self,
        base: i64,
        batches: impl Iterator<Item = &'a [u8]>,
    ) -> std::io::Result<()> {
        if self.file.is_none() || self.size >= self.segment_bytes {
            let path = self.dir.join(segment_name(base));
            self.file = Some(OpenOptions::new().create(true).append(true).open(&path)?);
            self.segments.push_back(path);
            self.size = 0;
        }
        if let Some(file) = &mut self.file {
            // One write per produce keeps a crash from splitting batches across calls.
            let all: Vec<u8> = batches.flat_map(|b| b.iter().copied()).collect();
            file.write_all(&all)?;
            self.size += all.len() as u64;
        }
        Ok(())
    }
}

impl SegmentWriter {
    /// Deletes segments whose every offset is below `log_start` (retention dropped them from
    /// memory). A segment is whole below it when the next segment starts at or before it.
    pub(crate) fn delete_before(&mut self, log_start: i64) {
        while self.segments.len() > 1 {
            let next_base = self.segments[1]
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<i64>().ok());
            if next_base.is_none_or(|b| b > log_start) {
                break;
            }
            if let Some(old) = self.segments.pop_front() {
                // Best effort: a file that cannot be removed only costs disk space.
                let _ = fs::remove_file(old);
            }
        }
    }
}

/// The segment files of the partition directory `dir`, in offset order.
pub(crate) fn list_segments(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut segs: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segs.sort();
    Ok(segs)
}

/// Reads every batch of the partition directory `dir` back, truncating a partial last batch.
pub(crate) fn load(dir: &Path) -> Result<Vec<StoredBatch>, BrokerError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let segs = list_segments(dir).map_err(BrokerError::io("list segments"))?;
    for path in segs {
        let data = Bytes::from(fs::read(&path).map_err(BrokerError::io("read segment"))?);
        let spans = batch::scan(&data, true)
            .map_err(|e| BrokerError::Storage(format!("{}: {e}", path.display())))?;
        let valid: usize = spans.iter().map(|s| s.len).sum();
        if valid < data.len() {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(BrokerError::io("open segment"))?;
            f.set_len(valid as u64)
                .map_err(BrokerError::io("truncate segment"))?;
        }
        for s in spans {
            out.push(StoredBatch {
                base: s.base_offset,
                end: s.base_offset + s.offsets,
                data: data.slice(s.start..s.start + s.len),
            });
        }
    }
    Ok(out)
}

/// Directories under `data_dir` named `<name>-<partition>`, as (name, partition count); the
/// caller decides which names are topics.
pub(crate) fn discover(data_dir: &Path) -> Result<Vec<(String, u32)>, BrokerError> {
    let mut found: std::collections::BTreeMap<String, u32> = Default::default();
    if !data_dir.exists() {
        return Ok(Vec::new());
    }
    for e in fs::read_dir(data_dir).map_err(BrokerError::io("read data_dir"))? {
        let e = e.map_err(BrokerError::io("read data_dir"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.path().is_dir() {
            continue;
        }
        if let Some((topic, p)) = name.rsplit_once('-')
            && let Ok(p) = p.parse::<u32>()
            && p < 10_000
        {
            let n = found.entry(topic.to_owned()).or_default();
            *n = (*n).max(p + 1);
        }
    }
    Ok(found.into_iter().collect())
}
