//! Serde for durations written the way people write them (`"30s"`, `"250ms"`, `"1m 30s"`),
//! shared by every transport's options and by the harness (the effective scenario, link and
//! fault settings), so everything reads and reports durations the same way.
//!
//! Use with `#[serde(with = "transport_core::duration")]`, or
//! `#[serde(with = "transport_core::duration::option")]` for an `Option<Duration>`.

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

/// The same for an optional duration: `None` is written as a unit (`null` in JSON).
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(d)` as a human duration string, `None` as none.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional human duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Human(#[serde(with = "super")] Duration);
        Ok(Option::<Human>::deserialize(d)?.map(|Human(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Timing {
        #[serde(with = "super")]
        hold: Duration,
        #[serde(with = "super::option")]
        target: Option<Duration>,
    }

    #[test]
    fn round_trips_as_human_strings() {
        let t = Timing {
            hold: Duration::from_millis(1500),
            target: Some(Duration::from_millis(250)),
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"hold":"1s 500ms","target":"250ms"}"#);
        assert_eq!(serde_json::from_str::<Timing>(&json).unwrap(), t);
        let none = r#"{"hold":"30s","target":null}"#;
        let t: Timing = serde_json::from_str(none).unwrap();
        assert_eq!(t.target, None);
        assert_eq!(serde_json::to_string(&t).unwrap(), none);
    }

    #[test]
    fn a_bad_duration_says_how_to_write_one() {
        let err = serde_json::from_str::<Timing>(r#"{"hold":"soon","target":null}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid duration \"soon\""), "{err}");
        assert!(err.contains("e.g. \"30s\""), "{err}");
    }
}
