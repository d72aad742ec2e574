//! `merge`'s reader of shard folders: each `summary.json` (any bytes), its schema and shard
//! record, and the checks that the folders are the shards of one scenario (same count, same
//! effective scenario, each index once). The input is one summary, or two separated by a NUL
//! byte (a real summary seeds it). Invariants: an error, never a panic; 64 MiB allocation
//! limit.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_bench::fuzzing::merge_check;

cap_allocations!(64 << 20);

fn dirs() -> &'static [PathBuf; 2] {
    static DIRS: OnceLock<[PathBuf; 2]> = OnceLock::new();
    DIRS.get_or_init(|| {
        let root = tempfile::tempdir().expect("a temp dir").keep();
        let dirs = [root.join("a"), root.join("b")];
        for d in &dirs {
            std::fs::create_dir_all(d).expect("shard dir");
        }
        dirs
    })
}

fuzz_target!(|data: &[u8]| {
    let dirs = dirs();
    let n = match data.iter().position(|&b| b == 0) {
        Some(at) => {
            std::fs::write(dirs[0].join("summary.json"), &data[..at]).expect("write");
            std::fs::write(dirs[1].join("summary.json"), &data[at + 1..]).expect("write");
            2
        }
        None => {
            std::fs::write(dirs[0].join("summary.json"), data).expect("write");
            1
        }
    };
    if let Ok(count) = merge_check(&dirs[..n]) {
        assert_eq!(count, n);
    }
});
