//! Meaning of `[link]` and `[[faults]]`: defaults (no link emulation, no faults), ranges, and
//! the rules that tie faults to the measured window, each error located at its value.

use std::time::Duration;

use toml::Spanned;

use super::located::Located;
use super::raw::{BANDWIDTH_EXPECTED, RawFault, RawLink, parse_bandwidth};
use crate::link::{ChurnRate, Fault, FaultKind, FaultTarget, LinkConfig, RestartSignal};

/// Slowest link a scenario may ask for: below this a single message takes seconds.
const MIN_BANDWIDTH: u64 = 1_000;
/// Longest round trip a scenario may ask for.
const MAX_RTT: Duration = Duration::from_secs(10);

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located::at(value.span(), message)
}

/// `[link]`, if present. An empty table is a plain relay (useful to measure the proxy itself).
pub(super) fn link(raw: Option<Spanned<RawLink>>) -> Result<Option<LinkConfig>, Located> {
    let Some(raw) = raw else { return Ok(None) };
    let table = raw.into_inner();
    let rtt = table.rtt.as_ref().map_or(Duration::ZERO, |d| d.get_ref().0);
    if let Some(d) = &table.rtt
        && rtt > MAX_RTT
    {
        return Err(at(
            d,
            format!("rtt must be at most {MAX_RTT:?}, got {rtt:?}"),
        ));
    }
    let jitter = table
        .jitter
        .as_ref()
        .map_or(Duration::ZERO, |d| d.get_ref().0);
    if let Some(d) = &table.jitter
        && jitter > rtt
    {
        return Err(at(
            d,
            format!(
                "jitter must be <= rtt ({rtt:?}), got {jitter:?}; the delay cannot go negative"
            ),
        ));
    }
    let bandwidth = match &table.bandwidth {
        Some(b) => match parse_bandwidth(b.get_ref()) {
            Some(bits) if bits >= MIN_BANDWIDTH => Some(bits),
            Some(bits) => {
                return Err(at(
                    b,
                    format!("bandwidth must be at least 1kbit, got {bits}bit"),
                ));
            }
            None => {
                return Err(at(
                    b,
                    format!(
                        "`{}` is not a bandwidth; expected {BANDWIDTH_EXPECTED}",
                        b.get_ref()
                    ),
                ));
            }
        },
        None => None,
    };
    Ok(Some(LinkConfig {
        rtt,
        jitter,
        bandwidth_bits_per_sec: bandwidth,
        applies_to: applies_to(table.applies_to.as_ref())?,
    }))
}

/// `[link] applies_to`: whose connections cross the link (default everyone's).
fn applies_to(raw: Option<&Spanned<String>>) -> Result<FaultTarget, Located> {
    let Some(t) = raw else {
        return Ok(FaultTarget::All);
    };
    FaultTarget::from_name(t.get_ref()).ok_or_else(|| {
        at(
            t,
            format!(
                "unknown applies_to `{}`; allowed: {}",
                t.get_ref(),
                FaultTarget::NAMES.join(", ")
            ),
        )
    })
}

/// A restart's `signal` (default kill) and a churn's rate; each refused on other kinds.
fn restart_and_churn(
    f: &RawFault,
    kind: FaultKind,
) -> Result<(Option<RestartSignal>, Option<ChurnRate>), Located> {
    let signal = match (&f.signal, kind) {
        (None, FaultKind::ServerRestart) => Some(RestartSignal::Kill),
        (None, _) => None,
        (Some(s), FaultKind::ServerRestart) => {
            Some(RestartSignal::from_name(s.get_ref()).ok_or_else(|| {
                at(
                    s,
                    format!(
                        "unknown signal `{}`; allowed: {}",
                        s.get_ref(),
                        RestartSignal::NAMES.join(", ")
                    ),
                )
            })?)
        }
        (Some(s), _) => return Err(at(s, "signal applies to server-restart only")),
    };
    let churn = match (&f.rate_per_sec, &f.share_per_sec, kind) {
        (Some(r), None, FaultKind::Churn) => {
            let v = *r.get_ref();
            if !(v > 0.0 && v.is_finite()) {
                return Err(at(r, format!("rate_per_sec must be > 0, got {v}")));
            }
            Some(ChurnRate::RatePerSec(v))
        }
        (None, Some(sh), FaultKind::Churn) => {
            let v = *sh.get_ref();
            if !(v > 0.0 && v <= 1.0) {
                return Err(at(
                    sh,
                    format!(
                        "share_per_sec must be in (0, 1] (a share of the targeted clients each second), got {v}"
                    ),
                ));
            }
            Some(ChurnRate::SharePerSec(v))
        }
        (Some(_), Some(sh), FaultKind::Churn) => {
            return Err(at(sh, "give rate_per_sec or share_per_sec, not both"));
        }
        (None, None, FaultKind::Churn) => {
            return Err(at(
                &f.kind,
                "a churn needs rate_per_sec (clients per second) or share_per_sec (a share of them per second)",
            ));
        }
        (Some(r), _, _) => return Err(at(r, "rate_per_sec applies to churn only")),
        (_, Some(sh), _) => return Err(at(sh, "share_per_sec applies to churn only")),
        (None, None, _) => None,
    };
    Ok((signal, churn))
}

/// `[[faults]]`, sorted by time; each must fire inside the measured window of `duration`.
pub(super) fn faults(
    raw: Option<Vec<Spanned<RawFault>>>,
    duration: Duration,
) -> Result<Vec<Fault>, Located> {
    let mut out = Vec::new();
    for entry in raw.unwrap_or_default() {
        let f = entry.get_ref();
        let when = f.at.get_ref().0;
        if when >= duration {
            return Err(at(
                &f.at,
                format!(
                    "at must be inside the measured window (duration = {}), got {}",
                    humantime::format_duration(duration),
                    humantime::format_duration(when)
                ),
            ));
        }
        let kind = FaultKind::from_name(f.kind.get_ref()).ok_or_else(|| {
            at(
                &f.kind,
                format!(
                    "unknown fault kind `{}`; allowed: {}",
                    f.kind.get_ref(),
                    FaultKind::NAMES.join(", ")
                ),
            )
        })?;
        let length = f.duration.as_ref().map(|d| (d, d.get_ref().0));
        let length = match (kind, length) {
            (FaultKind::ResetConnections, Some((d, v))) if !v.is_zero() => {
                return Err(at(
                    d,
                    "reset-connections takes no duration; it is instantaneous",
                ));
            }
            (FaultKind::Blackhole, None) => {
                return Err(at(
                    &f.kind,
                    "a blackhole needs a duration, like duration = \"2s\"",
                ));
            }
            (FaultKind::Blackhole, Some((d, v))) if v.is_zero() => {
                return Err(at(d, "a blackhole's duration must be > 0"));
            }
            (_, Some((_, v))) => v,
            (_, None) => Duration::ZERO,
        };
        let (signal, churn) = restart_and_churn(f, kind)?;
        if kind == FaultKind::Churn && length.is_zero() {
            return Err(at(
                &f.kind,
                "a churn needs a duration, like duration = \"20s\"",
            ));
        }
        let target = match &f.target {
            // A churn cuts subscribers unless told otherwise: the fleet that comes and goes.
            None if kind == FaultKind::Churn => FaultTarget::Subscribers,
            None => FaultTarget::All,
            Some(t) if !matches!(kind, FaultKind::ResetConnections | FaultKind::Churn) => {
                return Err(at(
                    t,
                    format!(
                        "target applies to reset-connections and churn only; a {} affects everyone",
                        kind.name()
                    ),
                ));
            }
            Some(t) => FaultTarget::from_name(t.get_ref()).ok_or_else(|| {
                at(
                    t,
                    format!(
                        "unknown target `{}`; allowed: {}",
                        t.get_ref(),
                        FaultTarget::NAMES.join(", ")
                    ),
                )
            })?,
        };
        out.push(Fault {
            at: when,
            kind,
            duration: length,
            target,
            signal,
            churn,
        });
    }
    out.sort_by_key(|f| f.at);
    Ok(out)
}
