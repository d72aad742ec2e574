//! A partition log mirrored to segment files: what survives a reopen, when segments roll, and
//! which segments retention deletes. (Here rather than in `segment.rs` so the storage modules
//! depend one way: topics → log → segment.)

use std::fs::OpenOptions;
use std::io::Write;

use super::PartitionLog;
use crate::batch::tests::fake_batch;
use crate::segment::{SegmentWriter, discover, list_segments, load, partition_dir};
#[test]
fn survives_reopen_and_rolls_and_truncates_partial_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = partition_dir(tmp.path(), "t", 0);
    let w = SegmentWriter::open(dir.clone(), 100).unwrap();
    let mut log = PartitionLog::new(u64::MAX, Some(w));
    for _ in 0..3 {
        log.append(&fake_batch(2, 40)).unwrap();
    }
    // 101-byte batches against a 100-byte segment limit: one segment each.
    assert_eq!(list_segments(&dir).unwrap().len(), 3);
    // Simulate a crash mid-write.
    let last = list_segments(&dir).unwrap().pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(&fake_batch(1, 0)[..30]).unwrap();
    let stored = load(&dir).unwrap();
    assert_eq!(
        stored.iter().map(|b| b.base).collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    let mut log = PartitionLog::new(u64::MAX, Some(SegmentWriter::open(dir, 100).unwrap()));
    log.restore(stored);
    assert_eq!(log.append(&fake_batch(1, 0)).unwrap(), 6);
    assert_eq!(discover(tmp.path()).unwrap(), vec![("t".to_owned(), 1)]);
}

#[test]
fn retention_deletes_whole_segments_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = partition_dir(tmp.path(), "r", 0);
    let w = SegmentWriter::open(dir.clone(), 100).unwrap();
    // Each 101-byte batch gets its own segment; keep about two batches in memory.
    let mut log = PartitionLog::new(250, Some(w));
    for _ in 0..5 {
        log.append(&fake_batch(1, 40)).unwrap();
    }
    assert_eq!(log.log_start(), 3);
    let names: Vec<String> = list_segments(&dir)
        .unwrap()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["00000000000000000003", "00000000000000000004"]);
    let mut log = PartitionLog::new(250, None);
    log.restore(load(&dir).unwrap());
    assert_eq!((log.log_start(), log.high_watermark()), (3, 5));
}
