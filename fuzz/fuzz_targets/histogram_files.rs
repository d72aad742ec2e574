//! The histogram files `merge` (and `report`) read from a results folder: a whole-run
//! HdrHistogram V2 file (`.hdr`) and an interval log (`.hlog`, V2+DEFLATE lines). A user may
//! feed them anything. Invariants: an error, never a panic; no field (a histogram's range, an
//! interval's timestamp) makes the reader allocate past 256 MiB.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_bench::merge::read_interval_log;
use transport_bench::results::write::read_histogram;

cap_allocations!(256 << 20);

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| tempfile::tempdir().expect("a temp dir").keep().join("run"))
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(file(), data).expect("write");
    let _ = read_histogram(file());
    let _ = read_interval_log(file());
});
