//! The scenario file exactly as written: serde types that keep every value's span.
//!
//! Nothing here checks ranges or fills defaults; [`super::validate`] does that, so every error
//! can still point at the value it is about. The small value types (`Dur`, `Count`, `Size`,
//! `RateItem`, `OneOrMany`) accept the forms scenarios may use and say what they expected.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::{BoolDeserializer, F64Deserializer, I64Deserializer, StrDeserializer};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

/// The top level of a scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: Spanned<String>,
    pub description: Spanned<String>,
    pub transports: Option<Spanned<Vec<Spanned<String>>>>,
    pub baseline: Option<bool>,
    pub duration: Spanned<Dur>,
    pub warmup: Option<Spanned<Dur>>,
    pub drain_timeout: Option<Spanned<Dur>>,
    pub publishers: Option<Spanned<Count>>,
    pub subscribers: Option<Spanned<OneOrMany<Count>>>,
    pub topics: Option<Spanned<Count>>,
    pub payload: Option<Spanned<OneOrMany<Size>>>,
    pub rate_per_sec: Option<Spanned<OneOrMany<RateItem>>>,
    pub deliveries_per_sec: Option<Spanned<OneOrMany<RateItem>>>,
    pub max_in_flight: Option<Spanned<Count>>,
    pub allow_loss: Option<bool>,
    pub p99_target: Option<Spanned<Dur>>,
    pub socket: Option<RawSocket>,
    pub server: Option<RawServer>,
    pub load: Option<RawLoad>,
    pub browser: Option<Spanned<RawBrowser>>,
    /// Checked per transport against its own config type; kept as written for the results.
    pub transport: Option<BTreeMap<Spanned<String>, Spanned<toml::Table>>>,
    pub link: Option<Spanned<RawLink>>,
    pub tls: Option<Spanned<RawTls>>,
    pub faults: Option<Vec<Spanned<RawFault>>>,
    pub consumers: Option<Vec<Spanned<RawConsumer>>>,
    /// How clients wait between reconnect attempts: `full-jitter`, `immediate`, or a list.
    pub reconnect: Option<Spanned<OneOrMany<String>>>,
    /// `[compare]`: regression thresholds, `METRIC = "15%"` or a number.
    pub compare: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// `[browser]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrowser {
    pub subscribers: Option<Spanned<OneOrMany<Count>>>,
    pub transports: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `[tls]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub enabled: Option<Spanned<OneOrMany<bool>>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub ca: Option<Spanned<String>>,
}

/// `[link]`: the emulated network between clients and the server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub rtt: Option<Spanned<Dur>>,
    pub jitter: Option<Spanned<Dur>>,
    pub bandwidth: Option<Spanned<String>>,
    pub applies_to: Option<Spanned<String>>,
}

/// `[server]`: where the server runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub mode: Option<Spanned<String>>,
    pub cpus: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// `[load]`: where the load generator runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoad {
    pub cpus: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// One `[[faults]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    pub at: Spanned<Dur>,
    pub kind: Spanned<String>,
    pub duration: Option<Spanned<Dur>>,
    pub target: Option<Spanned<String>>,
    /// `server-restart`: `term` or `kill`.
    pub signal: Option<Spanned<String>>,
    /// `churn`: subscribers cut per second, or a share of them per second.
    pub rate_per_sec: Option<Spanned<f64>>,
    pub share_per_sec: Option<Spanned<f64>>,
}

/// One `[[consumers]]` class as written; which keys it needs depends on `behaviour`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsumer {
    pub share: Spanned<OneOrMany<Share>>,
    pub behaviour: Spanned<String>,
    pub read_bytes_per_sec: Option<Spanned<Size>>,
    pub pause_at: Option<Spanned<Dur>>,
    pub pause_for: Option<Spanned<Dur>>,
    pub interval: Option<Spanned<Dur>>,
    pub at: Option<Spanned<Dur>>,
    #[serde(rename = "for")]
    pub length: Option<Spanned<Dur>>,
    pub receive_buffer: Option<Spanned<Size>>,
    pub allow_loss: Option<bool>,
}

/// A share of the subscribers: a number (range checked later, with its span).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Share(pub f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share between 0 and 1, like 0.1")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Share, E> {
                Ok(Share(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Share, E> {
                Ok(Share(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Share, E> {
                Ok(Share(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a bandwidth looks like, for error messages.
pub(super) const BANDWIDTH_EXPECTED: &str =
    "a bandwidth like \"10Mbit\", \"512kbit\", \"1Gbit\" (bits per second, per direction)";

/// Parses `"10Mbit"`, `"2.5Mbit"`, `"512kbit"`, `"1Gbit"`, `"9600bit"` into bits per second
/// (decimal units, as network rates are quoted); `None` if the text is not such a rate.
pub(super) fn parse_bandwidth(s: &str) -> Option<u64> {
    const UNITS: [(&str, f64); 5] = [
        ("Gbit", 1e9),
        ("Mbit", 1e6),
        ("kbit", 1e3),
        ("Kbit", 1e3),
        ("bit", 1.0),
    ];
    let s = s.trim();
    let s = s.strip_suffix("/s").unwrap_or(s);
    let (number, scale) = UNITS
        .iter()
        .find_map(|&(unit, scale)| s.strip_suffix(unit).map(|n| (n.trim(), scale)))?;
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let bits = number.parse::<f64>().ok()? * scale;
    (bits.is_finite() && bits >= 1.0 && bits < u64::MAX as f64).then_some(bits.round() as u64)
}

/// `[socket]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSocket {
    pub nodelay: Option<bool>,
}

const DURATION_EXPECTED: &str = "a duration like \"30s\" or \"250ms\"";

/// A human duration string (`"30s"`, `"1m 30s"`, `"250ms"`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                humantime::parse_duration(s).map(Dur).map_err(|e| {
                    E::custom(format!(
                        "`{s}` is not a duration ({e}); expected {DURATION_EXPECTED}"
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// A whole number (range checked later, with its span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count(pub i64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number >= 1")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

const SIZE_EXPECTED: &str =
    "a size like \"64B\", \"1KiB\", \"16KiB\", \"1MiB\" or a number of bytes";

/// A message size in bytes, written as an integer or with a unit (`B`, `KiB`, `MiB`, `GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size(pub i64);

/// Parses `"64B"`, `"1KiB"`, `"1.5MiB"`; `None` if the text is not such a size.
pub(super) fn parse_size(s: &str) -> Option<i64> {
    const UNITS: [(&str, f64); 5] = [
        ("GiB", (1u64 << 30) as f64),
        ("MiB", (1u64 << 20) as f64),
        ("KiB", 1024.0),
        ("B", 1.0),
        ("", 1.0),
    ];
    let s = s.trim();
    let (number, scale) = UNITS
        .iter()
        .find_map(|&(unit, scale)| s.strip_suffix(unit).map(|n| (n.trim(), scale)))?;
    // Only plain decimals: no signs, exponents, `inf` or `nan` that `f64::from_str` would take.
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let bytes = number.parse::<f64>().ok()? * scale;
    (bytes.fract() == 0.0 && bytes < i64::MAX as f64).then_some(bytes as i64)
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Size, E> {
                parse_size(s).map(Size).ok_or_else(|| {
                    E::custom(format!("`{s}` is not a size; expected {SIZE_EXPECTED}"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The message every malformed rate gets.
pub(super) const RATE_EXPECTED: &str = "rate_per_sec must be > 0 or \"max\"";

/// One offered rate: a number of messages per second, or `"max"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RateItem {
    PerSec(f64),
    Max,
}

impl<'de> Deserialize<'de> for RateItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RateItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number > 0 or \"max\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RateItem, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RateItem, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RateItem, E> {
                if v.is_finite() && v > 0.0 {
                    Ok(RateItem::PerSec(v))
                } else {
                    Err(E::custom(format!("{RATE_EXPECTED}, got {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RateItem, E> {
                match s {
                    "max" => Ok(RateItem::Max),
                    _ => Err(E::custom(format!("{RATE_EXPECTED}, got \"{s}\""))),
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RateItem, E> {
                Err(E::custom(format!("{RATE_EXPECTED}, got {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A single value or a list of them; list items keep their own spans.
#[derive(Debug)]
pub(super) struct OneOrMany<T>(pub Vec<(T, Option<Range<usize>>)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            // Scalars are handed to `T` unchanged, so `T` alone decides which forms it takes.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                one(T::deserialize(I64Deserializer::<E>::new(v))?)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                let v = i64::try_from(v).map_err(|_| E::custom("number too large"))?;
                self.visit_i64(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                one(T::deserialize(F64Deserializer::<E>::new(v))?)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                one(T::deserialize(StrDeserializer::<E>::new(v))?)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                one(T::deserialize(BoolDeserializer::<E>::new(v))?)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<T>>()? {
                    let span = item.span();
                    items.push((item.into_inner(), Some(span)));
                }
                Ok(OneOrMany(items))
            }
        }
        fn one<T, E>(v: T) -> Result<OneOrMany<T>, E> {
            Ok(OneOrMany(vec![(v, None)]))
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64B"), Some(64));
        assert_eq!(parse_size("1KiB"), Some(1024));
        assert_eq!(parse_size("16 KiB"), Some(16 * 1024));
        assert_eq!(parse_size("1.5MiB"), Some(1536 * 1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1.5B"), None);
        assert_eq!(parse_size("-1KiB"), None);
        assert_eq!(parse_size("infB"), None);
        assert_eq!(parse_size("1KB"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("10Mbit"), Some(10_000_000));
        assert_eq!(parse_bandwidth("2.5Mbit"), Some(2_500_000));
        assert_eq!(parse_bandwidth("512kbit"), Some(512_000));
        assert_eq!(parse_bandwidth("1Gbit/s"), Some(1_000_000_000));
        assert_eq!(parse_bandwidth("9600 bit"), Some(9600));
        assert_eq!(parse_bandwidth("10MB"), None);
        assert_eq!(parse_bandwidth("-1Mbit"), None);
        assert_eq!(parse_bandwidth("Mbit"), None);
        assert_eq!(parse_bandwidth("0bit"), None);
    }
}
