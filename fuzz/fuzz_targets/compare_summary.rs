//! `compare`'s reader of a results folder: `summary.json` (any bytes a user may point it at),
//! its schema check and parse, the pairing of runs by name, the scenario's thresholds and the
//! environment warnings. Invariants: an error, never a panic; 64 MiB allocation limit.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_bench::fuzzing::compare_side;

cap_allocations!(64 << 20);

/// One folder for the whole campaign (removed with the process's temp files).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir").keep())
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("summary.json");
    std::fs::write(&path, data).expect("write summary.json");
    let _ = compare_side(dir());
});
