//! Axis planning: every axis is drawn as a linear f64 range in "plot space" with explicit ticks,
//! and log and nines scales are transforms into that space. One coordinate type for all charts
//! keeps the renderer free of per-scale generics.

use std::ops::Range;

use crate::charts::extract::nines;
use crate::charts::model::{Axis, Scale, Unit};
use crate::text;

/// Percentiles labelled on a nines axis.
const NINES_TICKS: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999];

/// A planned axis: range and ticks in plot space, and how to map values and label ticks.
#[derive(Debug, Clone)]
pub struct AxisPlan {
    /// Plot-space range.
    pub range: Range<f64>,
    /// Labelled ticks (plot space).
    pub ticks: Vec<f64>,
    /// Unlabelled grid lines (plot space).
    pub light: Vec<f64>,
    scale: Scale,
    unit: Unit,
}

impl AxisPlan {
    /// Plans `axis` to cover `values` (data space; non-positive values are ignored on log axes).
    pub fn new(axis: &Axis, values: &[f64]) -> AxisPlan {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (range, ticks, light) = match axis.scale {
            Scale::Linear => {
                let (lo, hi) = finite.fold((0f64, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
                let hi = if hi <= lo {
                    lo + 1.0
                } else {
                    hi + (hi - lo) * 0.12
                };
                let step = nice_step((hi - lo) / 6.0);
                let ticks = steps(lo, hi, step);
                (lo..hi, ticks, Vec::new())
            }
            Scale::Log => {
                let logs: Vec<f64> = finite.filter(|&v| v > 0.0).map(f64::log10).collect();
                let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let (lo, hi) = if lo.is_finite() {
                    (lo.floor(), hi.ceil())
                } else {
                    (0.0, 1.0)
                };
                let hi = if hi <= lo { lo + 1.0 } else { hi };
                let decades = (hi - lo) as i32;
                let mut ticks = Vec::new();
                let mut light = Vec::new();
                for d in lo as i32..=hi as i32 {
                    ticks.push(f64::from(d));
                    for k in 2..10 {
                        let t = f64::from(d) + f64::from(k).log10();
                        if t < hi {
                            // Few decades: label 2× and 5× too, so the axis has enough numbers.
                            if decades <= 2 && (k == 2 || k == 5) {
                                ticks.push(t)
                            } else {
                                light.push(t)
                            }
                        }
                    }
                }
                (lo..hi, ticks, light)
            }
            Scale::Nines => {
                // The tolerance keeps 99.99% (nines 4.00000000002) from opening an empty decade.
                let top = (finite
                    .filter(|&q| q < 1.0)
                    .map(nines)
                    .fold(2.0f64, f64::max)
                    - 1e-6)
                    .ceil();
                let ticks = NINES_TICKS
                    .iter()
                    .map(|&q| nines(q))
                    .filter(|&t| t <= top + 1e-9)
                    .collect();
                (0.0..top, ticks, Vec::new())
            }
        };
        AxisPlan {
            range,
            ticks,
            light,
            scale: axis.scale,
            unit: axis.unit,
        }
    }

    /// A category axis: one labelled tick per index in `0..n`.
    pub fn categories(n: usize) -> AxisPlan {
        AxisPlan {
            range: -0.5..n as f64 - 0.5,
            ticks: (0..n).map(|i| i as f64).collect(),
            light: Vec::new(),
            scale: Scale::Linear,
            unit: Unit::Count,
        }
    }

    /// Data value → plot space.
    pub fn map(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.max(f64::MIN_POSITIVE).log10(),
            Scale::Nines => nines(v),
        }
    }

    /// Plot-space tick → label text.
    pub fn label(&self, t: f64) -> String {
        let v = match self.scale {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
            Scale::Nines => 1.0 - 10f64.powf(-t),
        };
        value_label(self.unit, v)
    }

    /// True if `v` can be drawn on this axis.
    pub fn accepts(&self, v: f64) -> bool {
        v.is_finite()
            && (self.scale != Scale::Log || v > 0.0)
            && (self.scale != Scale::Nines || v < 1.0)
    }
}

/// A data value formatted for its unit.
pub fn value_label(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Nanos => text::nanos(v),
        Unit::Count => text::count(v),
        Unit::Bytes => text::bytes(v),
        Unit::Quantile => text::percentile(v),
        Unit::Seconds => format!("{} s", text::sig3(v)),
    }
}

/// The 1-2-2.5-5 step at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn steps(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(scale: Scale, unit: Unit) -> Axis {
        Axis {
            label: String::new(),
            scale,
            unit,
        }
    }

    #[test]
    fn nines_axis_labels_the_nines() {
        let plan = AxisPlan::new(
            &axis(Scale::Nines, Unit::Quantile),
            &[0.0, 0.5, 0.999, 0.9999],
        );
        let labels: Vec<String> = plan.ticks.iter().map(|&t| plan.label(t)).collect();
        assert_eq!(labels, ["50%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(plan.range, 0.0..4.0);
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let plan = AxisPlan::new(
            &axis(Scale::Log, Unit::Nanos),
            &[12_000.0, 3_400_000.0, 0.0],
        );
        assert_eq!(plan.range, 4.0..7.0);
        assert_eq!(plan.label(4.0), "10 µs");
        assert_eq!(plan.label(6.0), "1 ms");
    }

    #[test]
    fn linear_axis_has_round_ticks() {
        let plan = AxisPlan::new(&axis(Scale::Linear, Unit::Count), &[0.0, 9_300.0]);
        assert_eq!(plan.ticks, [0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0]);
    }
}
