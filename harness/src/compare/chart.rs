//! The side-by-side chart: one panel per metric, a baseline bar (grey) and a candidate bar
//! (coloured by verdict) per run, with the interval as whiskers.
//!
//! Drawn with plotters' bitmap backend and the embedded DejaVu Sans that
//! [`crate::charts::style::register_fonts`] registers, so no system font library is involved
//! (see ANCHORS.md). Runs are numbered
//! `#1..#n` on the x axis; the report's tables use the same numbers.

use std::path::Path;

use plotters::prelude::*;

use super::error::CompareError;
use super::judge::Verdict;
use super::stats::Interval;
use super::verdict::Comparison;
use crate::charts::style::{FAMILY, register_fonts};
use crate::metric::Metric;
use crate::text::{count, nanos, trim_float};

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (1200, 720);

const BASELINE: RGBColor = RGBColor(150, 150, 150);
const REGRESSED: RGBColor = RGBColor(214, 39, 40);
const IMPROVED: RGBColor = RGBColor(44, 160, 44);
const NEUTRAL: RGBColor = RGBColor(31, 119, 180);
const FLOOR_MOVED: RGBColor = RGBColor(255, 127, 14);

/// One run's two bars in a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct BarPair {
    /// Baseline value (median / worst for lost).
    pub baseline: f64,
    /// Baseline interval, if any.
    pub baseline_interval: Option<Interval>,
    /// Candidate value.
    pub candidate: f64,
    /// Candidate interval, if any.
    pub candidate_interval: Option<Interval>,
    /// Verdict (colours the candidate bar).
    pub verdict: Verdict,
    /// Whether the verdict gates (an ungated regression is the floor moving: orange).
    pub gates: bool,
}

/// One panel's data: what is drawn, kept separate so tests can check it without pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The metric.
    pub metric: Metric,
    /// One entry per run, in report order.
    pub bars: Vec<BarPair>,
}

/// The data behind the chart.
pub fn panels(c: &Comparison) -> Vec<Panel> {
    Metric::UNPAIRED
        .iter()
        .map(|&metric| Panel {
            metric,
            bars: c
                .runs
                .iter()
                .filter_map(|r| r.metrics.iter().find(|m| m.metric == metric))
                .map(|m| BarPair {
                    baseline: m.baseline.center,
                    baseline_interval: m.baseline.interval,
                    candidate: m.candidate.center,
                    candidate_interval: m.candidate.interval,
                    verdict: m.verdict,
                    gates: m.gates,
                })
                .collect(),
        })
        .collect()
}

/// Draw the chart as a PNG at `path`.
pub fn draw(c: &Comparison, path: &Path) -> Result<(), CompareError> {
    let fail = |e: &dyn std::fmt::Display| CompareError::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    register_fonts().map_err(|e| fail(&e))?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root
        .titled(
            "baseline (grey) vs candidate (red: regressed, green: improved, blue: within noise, orange: floor moved); \
             whiskers: interval; runs numbered as in the report",
            (FAMILY, 14),
        )
        .map_err(|e| fail(&e))?;
    let panels = panels(c);
    let areas = root.split_evenly((2, 3));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        draw_panel(panel, area).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    panel: &Panel,
    area: &Area<'_>,
) -> Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>> {
    let n = panel.bars.len().max(1);
    let top = panel
        .bars
        .iter()
        .flat_map(|b| {
            [
                b.baseline,
                b.candidate,
                b.baseline_interval.map_or(0.0, |i| i.upper),
                b.candidate_interval.map_or(0.0, |i| i.upper),
            ]
        })
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let metric = panel.metric;
    let caption = match metric {
        Metric::Throughput => "throughput (msg/s)",
        Metric::P50 => "p50 latency",
        Metric::P99 => "p99 latency",
        Metric::P999 => "p99.9 latency",
        Metric::OverheadBytes => "overhead (bytes/msg)",
        Metric::Lost => "lost messages",
        Metric::ServerCpu => "server CPU (ns/msg)",
        Metric::LoadCpu => "load CPU (ns/msg)",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 16))
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(58)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Integer ticks only: asking for at most n labels makes plotters pick a step of 1.
        .x_labels(n)
        .x_label_formatter(&|x| format!("#{}", x.round() as i64 + 1))
        .y_labels(5)
        .y_label_formatter(&|v| axis_text(metric, *v))
        .label_style((FAMILY, 12))
        .draw()?;
    for (i, b) in panel.bars.iter().enumerate() {
        let x = i as f64;
        let colour = match b.verdict {
            Verdict::Regressed if !b.gates => FLOOR_MOVED,
            Verdict::Regressed => REGRESSED,
            Verdict::Improved => IMPROVED,
            Verdict::WithinNoise => NEUTRAL,
        };
        for (left, value, interval, fill) in [
            (x - 0.38, b.baseline, b.baseline_interval, BASELINE),
            (x + 0.02, b.candidate, b.candidate_interval, colour),
        ] {
            let value = if value.is_finite() { value } else { 0.0 };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(left, 0.0), (left + 0.36, value)],
                fill.filled(),
            )))?;
            if let Some(iv) = interval {
                let mid = left + 0.18;
                let style = BLACK.stroke_width(1);
                chart.draw_series([
                    PathElement::new(vec![(mid, iv.lower), (mid, iv.upper)], style),
                    PathElement::new(vec![(mid - 0.06, iv.lower), (mid + 0.06, iv.lower)], style),
                    PathElement::new(vec![(mid - 0.06, iv.upper), (mid + 0.06, iv.upper)], style),
                ])?;
            }
        }
    }
    Ok(())
}

/// Axis labels in the units the rest of the tool uses (the tables carry the exact figures).
fn axis_text(metric: Metric, v: f64) -> String {
    match metric {
        Metric::P50 | Metric::P99 | Metric::P999 | Metric::ServerCpu | Metric::LoadCpu => nanos(v),
        Metric::Throughput => count(v),
        Metric::OverheadBytes => format!("{v:.1}"),
        Metric::Lost => trim_float(v),
    }
}
