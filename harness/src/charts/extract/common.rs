//! Helpers every chart of `extract` builds with: captions, file names, axes, bars and lines
//! against offered rate. The chart functions (in `extract` and its `over` and `scale`
//! children) import these; this file imports none of them.

use crate::charts::model::{Axis, Bar, BarGroup, LineSeries, Point, Scale, Unit};
use crate::charts::select::{self, Cell, RateKey, Variant};
use crate::text;

/// `at 10K msg/s offered (highest rate every transport sustained)`.
pub(super) fn rate_phrase(v: &Variant<'_>, rate: RateKey) -> String {
    let why = match (v.open_rates().len() > 1, v.all_sustained(rate)) {
        (false, _) => "",
        (true, true) => " (highest rate every transport sustained)",
        (true, false) => " (lowest rate: no rate was sustained by every transport)",
    };
    match rate {
        RateKey::PerSec(r) => format!("at {} msg/s offered{why}", text::count(r)),
        RateKey::Max => "closed loop (max rate)".to_owned(),
    }
}

pub(super) fn subtitle(v: &Variant<'_>, what: &str, rate: Option<RateKey>) -> String {
    let mut parts = Vec::new();
    if !v.label.is_empty() {
        parts.push(v.label.clone());
    }
    parts.push(what.to_owned());
    parts.push(v.repetition_note(rate));
    parts.join("; ")
}

pub(super) fn file(stem: &str, v: &Variant<'_>) -> String {
    format!("{stem}{}.png", v.slug)
}

pub(super) fn axis(label: &str, scale: Scale, unit: Unit) -> Axis {
    Axis {
        label: label.to_owned(),
        scale,
        unit,
    }
}

pub(super) fn flagged(c: &Cell<'_>) -> bool {
    !select::sustained(c.run)
}

/// One single-segment bar per cell, in the cells' order.
pub(super) fn one_bar_each(cells: &[&Cell<'_>], value: impl Fn(&Cell<'_>) -> f64) -> Vec<BarGroup> {
    cells
        .iter()
        .map(|c| BarGroup {
            transport: c.transport.name().to_owned(),
            bars: vec![Bar {
                label: String::new(),
                segments: vec![value(c)],
                lower_bound: false,
            }],
        })
        .collect()
}

/// One line per transport: `value` against offered rate, over open-loop cells whose value is
/// positive (the axes are logarithmic).
pub(super) fn against_rate(v: &Variant<'_>, value: impl Fn(&Cell<'_>) -> f64) -> Vec<LineSeries> {
    v.transports
        .iter()
        .map(|t| LineSeries {
            transport: t.name().to_owned(),
            points: v
                .cells
                .iter()
                .filter(|c| &c.transport == t && value(c) > 0.0)
                .filter_map(|c| {
                    Some(Point {
                        x: c.rate.per_sec()?,
                        y: value(c),
                        flagged: flagged(c),
                    })
                })
                .collect(),
        })
        .collect()
}
