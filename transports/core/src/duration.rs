//! Serde for durations written the way people write them (`"30s"`, `"250ms"`, `"1m 30s"`),
//! shared by every transport's options so they read and report durations the same way.
//!
//! Use with `#[serde(with = "transport_core::duration")]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `d` as a human duration string (`"1s 500ms"`).
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// Reads a human duration string; the error says how to write one.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?}: {e} (write e.g. \"30s\" or \"250ms\")"
        ))
    })
}
