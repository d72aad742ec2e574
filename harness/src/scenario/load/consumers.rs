//! Meaning of `[[consumers]]`: each class's behaviour and the keys it needs, shares in 0..=1
//! that never sum over 1, and times inside the measured window, each error located at its
//! value with the allowed values.

use std::time::Duration;

use toml::Spanned;

use super::located::{Located, distinct};
use super::raw::{Dur, RawConsumer};
use crate::scenario::consumers::{Behaviour, ConsumerClass};

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located::at(value.span(), message)
}

/// The classes, in file order.
pub(super) fn consumers(
    raw: Option<Vec<Spanned<RawConsumer>>>,
    duration: Duration,
) -> Result<Vec<ConsumerClass>, Located> {
    let mut out: Vec<ConsumerClass> = Vec::new();
    let mut most = 0.0;
    for entry in raw.unwrap_or_default() {
        let c = entry.get_ref();
        let behaviour = behaviour(c, duration)?;
        if out.iter().any(|o| o.behaviour.name() == behaviour.name()) {
            return Err(at(
                &c.behaviour,
                format!(
                    "a second `{behaviour}` class; give each behaviour one [[consumers]] entry (a list of shares sweeps it)"
                ),
            ));
        }
        let share = distinct(&c.share, "share", |s, span| {
            if (0.0..=1.0).contains(&s.0) {
                Ok(s.0)
            } else {
                Err(Located::at(
                    span,
                    format!("share must be between 0 and 1, got {}", s.0),
                ))
            }
        })?;
        most += share.iter().copied().fold(0.0, f64::max);
        if most > 1.0 + 1e-9 {
            return Err(at(
                &c.share,
                format!(
                    "the classes' largest shares sum to {most}, over 1: a subscriber can be in one class only"
                ),
            ));
        }
        out.push(ConsumerClass {
            behaviour,
            share,
            receive_buffer: receive_buffer(c)?,
            allow_loss: c.allow_loss.unwrap_or(false),
        });
    }
    Ok(out)
}

/// The behaviour and its keys; a key that belongs to another behaviour is an error, so a
/// typo'd class never silently reads at full speed.
fn behaviour(c: &RawConsumer, duration: Duration) -> Result<Behaviour, Located> {
    let name = c.behaviour.get_ref().as_str();
    let keys: [(&str, bool, &[&str]); 5] = [
        (
            "read_bytes_per_sec",
            c.read_bytes_per_sec.is_some(),
            &["slow"],
        ),
        ("pause_at", c.pause_at.is_some(), &["paused"]),
        ("pause_for", c.pause_for.is_some(), &["paused"]),
        ("interval", c.interval.is_some(), &["batch"]),
        ("at", c.at.is_some(), &["offline"]),
    ];
    let mut keys = keys.to_vec();
    keys.push(("for", c.length.is_some(), &["offline"]));
    if !Behaviour::NAMES.contains(&name) {
        return Err(at(
            &c.behaviour,
            format!(
                "unknown behaviour `{name}`; allowed: {}",
                Behaviour::NAMES.join(", ")
            ),
        ));
    }
    if let Some((key, _, owners)) = keys.iter().find(|(_, set, o)| *set && !o.contains(&name)) {
        return Err(at(
            &c.behaviour,
            format!(
                "`{key}` applies to behaviour {} only, not to {name}",
                owners[0]
            ),
        ));
    }
    let need = |v: &Option<Spanned<Dur>>, key: &str| {
        v.as_ref().map(|d| d.get_ref().0).ok_or_else(|| {
            at(
                &c.behaviour,
                format!(
                    "{} {name} class needs `{key}`, a duration like \"3s\"",
                    article(name)
                ),
            )
        })
    };
    Ok(match name {
        "slow" => slow(c)?,
        "paused" => {
            let (pause_at, pause_for) = (
                need(&c.pause_at, "pause_at")?,
                need(&c.pause_for, "pause_for")?,
            );
            inside(c.pause_at.as_ref(), "pause_at", pause_at, duration)?;
            positive(c.pause_for.as_ref(), "pause_for", pause_for)?;
            Behaviour::Paused {
                pause_at,
                pause_for,
            }
        }
        "batch" => {
            let interval = need(&c.interval, "interval")?;
            positive(c.interval.as_ref(), "interval", interval)?;
            Behaviour::Batch { interval }
        }
        _ => {
            let (when, length) = (need(&c.at, "at")?, need(&c.length, "for")?);
            inside(c.at.as_ref(), "at", when, duration)?;
            positive(c.length.as_ref(), "for", length)?;
            Behaviour::Offline { at: when, length }
        }
    })
}

fn slow(c: &RawConsumer) -> Result<Behaviour, Located> {
    let Some(rate) = &c.read_bytes_per_sec else {
        return Err(at(
            &c.behaviour,
            "a slow class needs `read_bytes_per_sec`, a size per second like \"10KiB\"",
        ));
    };
    match u64::try_from(rate.get_ref().0) {
        Ok(bytes) if bytes > 0 => Ok(Behaviour::Slow {
            read_bytes_per_sec: bytes,
        }),
        _ => Err(at(rate, "read_bytes_per_sec must be > 0, like \"10KiB\"")),
    }
}

/// A time that must fall inside the measured window.
fn inside(
    v: Option<&Spanned<Dur>>,
    key: &str,
    value: Duration,
    window: Duration,
) -> Result<(), Located> {
    match v {
        Some(v) if value >= window => Err(at(
            v,
            format!(
                "{key} must be inside the measured window (duration = {}), got {}",
                humantime::format_duration(window),
                humantime::format_duration(value)
            ),
        )),
        _ => Ok(()),
    }
}

fn positive(v: Option<&Spanned<Dur>>, key: &str, value: Duration) -> Result<(), Located> {
    match v {
        Some(v) if value.is_zero() => Err(at(v, format!("{key} must be > 0"))),
        _ => Ok(()),
    }
}

/// "a" or "an" before a behaviour's name.
fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The class's socket receive buffer: 64 KiB unless given; 0 leaves the kernel's autotuning.
fn receive_buffer(c: &RawConsumer) -> Result<Option<u32>, Located> {
    let Some(size) = &c.receive_buffer else {
        return Ok(Some(DEFAULT_RECEIVE_BUFFER));
    };
    match u32::try_from(size.get_ref().0) {
        Ok(0) => Ok(None),
        Ok(b) if (4096..=(64 << 20)).contains(&b) => Ok(Some(b)),
        _ => Err(at(
            size,
            "receive_buffer must be between 4KiB and 64MiB, or 0 for the kernel's autotuning",
        )),
    }
}

/// What a lagging consumer's sockets get unless the class says otherwise.
const DEFAULT_RECEIVE_BUFFER: u32 = 64 * 1024;
