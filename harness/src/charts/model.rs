//! What a chart shows, as plain data: figures, panels, series and bars.
//!
//! Extraction (`extract`) turns a [`crate::results::Summary`] into these values and rendering
//! (`render`) draws them; keeping the two apart lets tests snapshot the numbers as JSON instead
//! of comparing PNG bytes, which change with every font or anti-aliasing tweak.

use serde::Serialize;

/// One PNG file: a title, a subtitle saying which runs it shows, and one or more panels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// File name inside the results folder (`latency-spectrum.png`).
    pub file: String,
    /// Headline.
    pub title: String,
    /// Which runs, at which rate, and how repetitions were reduced.
    pub subtitle: String,
    /// How panels share the canvas.
    pub layout: Layout,
    /// The plots.
    pub panels: Vec<Panel>,
}

/// How a figure's panels are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Side by side.
    Row,
    /// One above the other.
    Column,
}

/// One plot area.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Panel {
    /// Lines (with optional markers) over two numeric axes.
    Lines(LinePanel),
    /// Bars grouped by transport.
    Bars(BarPanel),
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// Linear from zero (or the data minimum).
    Linear,
    /// Base-10 logarithmic.
    Log,
    /// Values are quantiles p in [0, 1), drawn at log10(1 / (1 − p)) and labelled as percentiles.
    Nines,
}

/// What an axis value means, for tick labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Nanoseconds, labelled in ns / µs / ms / s.
    Nanos,
    /// A count or rate, labelled with K / M suffixes.
    Count,
    /// Bytes.
    Bytes,
    /// A quantile, labelled as a percentile.
    Quantile,
    /// Seconds into the measured window.
    Seconds,
}

/// An axis: label (with units) and scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    /// Axis description including the unit.
    pub label: String,
    /// Mapping.
    pub scale: Scale,
    /// Tick label format.
    pub unit: Unit,
}

/// A horizontal reference line (the raw-TCP floor, a p99 target).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefLine {
    /// Legend text.
    pub label: String,
    /// Where, in y units.
    pub y: f64,
    /// Transport whose colour to use; `None` draws it in dark red.
    pub transport: Option<String>,
    /// Set for a vertical line at this x instead (a fault's moment); `y` is then ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_x: Option<f64>,
}

/// A plot of lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinePanel {
    /// Panel heading.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// One line per transport.
    pub series: Vec<LineSeries>,
    /// Horizontal reference lines.
    pub reference: Vec<RefLine>,
}

/// One transport's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineSeries {
    /// Transport name (picks the colour).
    pub transport: String,
    /// Points in x order.
    pub points: Vec<Point>,
}

/// One point of a line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Drawn with a cross: the run was saturated or lost messages.
    pub flagged: bool,
}

/// A bar plot: one group per transport, each with one or more (possibly stacked) bars.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarPanel {
    /// Panel heading.
    pub title: String,
    /// Vertical axis.
    pub y: Axis,
    /// Groups, left to right.
    pub groups: Vec<BarGroup>,
    /// Horizontal reference lines.
    pub reference: Vec<RefLine>,
    /// Legend entries for stack segments, darkest first (`payload`, `overhead`); empty when bars
    /// are not stacked.
    pub segment_legend: Vec<String>,
}

/// The bars of one transport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarGroup {
    /// Transport name (label and colour).
    pub transport: String,
    /// Bars, left to right.
    pub bars: Vec<Bar>,
}

/// One bar, made of stacked segments (bottom first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Short label drawn under the bar (`c→s`), may be empty.
    pub label: String,
    /// Segment heights, bottom first; segment i uses shade i of the transport colour.
    pub segments: Vec<f64>,
    /// The figure is a lower bound (the load generator's cores were busy): drawn hatched, its
    /// value labelled "≥".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lower_bound: bool,
}

impl Bar {
    /// The bar's total height.
    pub fn total(&self) -> f64 {
        self.segments.iter().sum()
    }
}
