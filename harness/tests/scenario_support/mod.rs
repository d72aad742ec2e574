//! Loading scenario text in tests: a minimal valid base, and helpers that expect it to load
//! or to fail with a located error.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use transport_bench::scenario::{Scenario, ScenarioError, load_str};

/// The smallest valid scenario: three lines, so an appended line is line 4.
pub const BASE: &str = "name = \"t\"\ndescription = \"d\"\nduration = \"3s\"\n";

pub fn ok(extra: &str) -> Scenario {
    let text = format!("{BASE}{extra}");
    load_str(&text, Path::new("ok.toml")).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

/// Loads `BASE` + `extra` expecting an error; returns (line, col, message) after checking the
/// Display form is `bad.toml:line:col: message`.
pub fn bad(extra: &str) -> (usize, usize, String) {
    let text = format!("{BASE}{extra}");
    match load_str(&text, Path::new("bad.toml")) {
        Ok(s) => panic!("accepted:\n{text}\n{s:?}"),
        Err(e @ ScenarioError::Invalid { .. }) => {
            let shown = e.to_string();
            let ScenarioError::Invalid {
                line, col, message, ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!(shown, format!("bad.toml:{line}:{col}: {message}"));
            (line, col, message)
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

pub fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "`{message}` lacks `{part}`");
    }
}
