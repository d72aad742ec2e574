//! The scenario loader (TOML text → typed, validated scenario), which reads whatever file a
//! user names. Invariants: an error names a line and column inside the text; a scenario that
//! loads serialises (as the effective scenario recorded in results) and expands into its
//! matrix of runs (as `validate` and `run` do) within 256 MiB.
#![no_main]

use std::path::Path;

use fuzz_support::cap_allocations;
use libfuzzer_sys::fuzz_target;
use transport_bench::scenario::{ScenarioError, load_str};

cap_allocations!(256 << 20);

fuzz_target!(|text: &str| {
    match load_str(text, Path::new("fuzz.toml")) {
        Ok(scenario) => {
            serde_json::to_string(&scenario).expect("a loaded scenario serialises");
            let runs = scenario.expand();
            assert!(!runs.is_empty(), "a scenario with no runs loaded");
        }
        Err(ScenarioError::Invalid {
            line, col, message, ..
        }) => {
            assert!(line >= 1 && col >= 1);
            assert!(
                line <= text.lines().count() + 1,
                "line {line} past the text: {message}"
            );
            assert!(!message.is_empty());
        }
        Err(ScenarioError::Io { .. }) => panic!("load_str read a file"),
    }
});
