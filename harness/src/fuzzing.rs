//! What the fuzz targets in `fuzz/` need of the readers of user files, behind the `fuzzing`
//! feature so the public API stays as it is: `compare`'s reading and pairing of a results
//! folder, and `merge`'s reading and checking of shard folders. The scenario loader
//! (`scenario::load_str`) and the histogram readers are public already.

use std::path::{Path, PathBuf};

use crate::compare::input::{Side, environment_warnings, pair, scenario_thresholds};

/// Reads `path` as `compare` reads each side, then pairs it with itself and reads its
/// thresholds and environment, as `compare` does before judging. Returns the pairs found.
pub fn compare_side(path: &Path) -> Result<usize, String> {
    let side = Side::load(path).map_err(|e| e.to_string())?;
    let pairs = pair(&side, &side).map_err(|e| e.to_string())?;
    scenario_thresholds(&side).map_err(|e| e.to_string())?;
    let _ = environment_warnings(&side, &side);
    Ok(pairs.len())
}

/// Reads and checks `dirs` as `merge` does before it adds anything; returns the shard count.
pub fn merge_check(dirs: &[PathBuf]) -> anyhow::Result<usize> {
    crate::merge::check::load(dirs).map(|s| s.len())
}
