//! Drawing a [`Figure`] to a PNG with plotters' bitmap backend: title and subtitle on top,
//! panels in a row or a column, every axis planned by [`AxisPlan`].

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::charts::axes::{AxisPlan, value_label};
use crate::charts::model::{
    Axis, BarPanel, Figure, Layout, LinePanel, Panel, RefLine, Scale, Unit,
};
use crate::charts::style::{FAMILY, colour, shade};

/// Image width in pixels.
pub const WIDTH: u32 = 1200;
/// Image height in pixels.
pub const HEIGHT: u32 = 700;
/// Reference lines without a transport (targets) are drawn in this colour.
const TARGET: RGBColor = RGBColor(180, 30, 30);
/// Beyond this many points a line gets no markers (spectra have hundreds).
const MARKER_LIMIT: usize = 40;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A linear f64 axis with the ticks an [`AxisPlan`] chose. plotters' own `WithKeyPoints` over
/// f64 has no value formatter, which the mesh needs even when every label is custom.
struct Coord {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Coord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let fraction = if span > 0.0 {
            (value - self.range.start) / span
        } else {
            0.0
        };
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Draws `fig` into a PNG at `path` (the extension must be `.png`).
pub fn render(fig: &Figure, path: &Path) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let subtitle = wrap(&fig.subtitle, 130);
    // Title, subtitle lines, then one legend row shared by every panel (colours are per
    // transport and the same in all charts, so panels need no legends of their own).
    let legend_y = 52 + 22 * subtitle.len() as i32;
    let head_height = legend_y as u32 + 30;
    let (head, body) = root.split_vertically(head_height);
    head.draw_text(
        &fig.title,
        &(FAMILY, 26)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
        (20, 12),
    )?;
    for (i, line) in subtitle.iter().enumerate() {
        head.draw_text(
            line,
            &(FAMILY, 17).into_font().color(&RGBColor(70, 70, 70)),
            (20, 48 + 22 * i as i32),
        )?;
    }
    transport_legend(&head, &transports(fig), legend_y)?;
    let n = fig.panels.len().max(1);
    let areas = match fig.layout {
        Layout::Row => body.split_evenly((1, n)),
        Layout::Column => body.split_evenly((n, 1)),
    };
    for (panel, area) in fig.panels.iter().zip(&areas) {
        match panel {
            Panel::Lines(p) => lines(p, area)?,
            Panel::Bars(p) => bars(p, area)?,
        }
    }
    root.present()?;
    Ok(())
}

/// The transports a figure shows, in first-seen order.
fn transports(fig: &Figure) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for panel in &fig.panels {
        let names: Vec<&str> = match panel {
            Panel::Lines(p) => p.series.iter().map(|s| s.transport.as_str()).collect(),
            Panel::Bars(p) => p.groups.iter().map(|g| g.transport.as_str()).collect(),
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// One row of colour keys at height `y` of the header.
fn transport_legend(head: &Area<'_>, names: &[&str], y: i32) -> anyhow::Result<()> {
    let font = (FAMILY, 17).into_font().color(&BLACK);
    let mut x = 20;
    for name in names {
        let c = colour(name);
        head.draw(&PathElement::new(
            vec![(x, y + 9), (x + 28, y + 9)],
            c.stroke_width(4),
        ))?;
        head.draw_text(name, &font, (x + 36, y))?;
        let (w, _) = head.estimate_text_size(name, &font)?;
        x += 36 + w as i32 + 32;
    }
    Ok(())
}

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn coord(plan: &AxisPlan) -> Coord {
    Coord {
        range: plan.range.clone(),
        ticks: plan.ticks.clone(),
        light: plan.light.clone(),
    }
}

fn chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    (x, xs): (&Axis, &AxisPlan),
    (y, ys): (&Axis, &AxisPlan),
    x_labels: &dyn Fn(f64) -> String,
) -> anyhow::Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Coord, Coord>>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 19))
        .margin(14)
        .margin_right(44)
        .x_label_area_size(58)
        .y_label_area_size(92)
        .build_cartesian_2d(coord(xs), coord(ys))?;
    chart
        .configure_mesh()
        .x_desc(x.label.as_str())
        .y_desc(y.label.as_str())
        .x_label_formatter(&|v| x_labels(*v))
        .y_label_formatter(&|v| ys.label(*v))
        .label_style((FAMILY, 15))
        .axis_desc_style((FAMILY, 16))
        .bold_line_style(RGBColor(205, 205, 205))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    Ok(chart)
}

fn ref_line_colour(r: &RefLine) -> RGBColor {
    r.transport.as_deref().map_or(TARGET, colour)
}

fn lines(p: &LinePanel, area: &Area<'_>) -> anyhow::Result<()> {
    let xs_data: Vec<f64> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|pt| pt.x))
        .collect();
    let mut ys_data: Vec<f64> = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|pt| pt.y))
        .collect();
    ys_data.extend(p.reference.iter().filter(|r| r.at_x.is_none()).map(|r| r.y));
    let xs = AxisPlan::new(&p.x, &xs_data);
    let ys = AxisPlan::new(&p.y, &ys_data);
    let mut chart = chart(area, &p.title, (&p.x, &xs), (&p.y, &ys), &|v| xs.label(v))?;
    for s in &p.series {
        let c = colour(&s.transport);
        let pts: Vec<(f64, f64, bool)> = s
            .points
            .iter()
            .filter(|pt| xs.accepts(pt.x) && ys.accepts(pt.y))
            .map(|pt| (xs.map(pt.x), ys.map(pt.y), pt.flagged))
            .collect();
        chart.draw_series(LineSeries::new(
            pts.iter().map(|&(x, y, _)| (x, y)),
            c.stroke_width(3),
        ))?;
        if pts.len() <= MARKER_LIMIT {
            chart.draw_series(
                pts.iter()
                    .filter(|p| !p.2)
                    .map(|&(x, y, _)| Circle::new((x, y), 4, c.filled())),
            )?;
            chart.draw_series(
                pts.iter()
                    .filter(|p| p.2)
                    .map(|&(x, y, _)| Cross::new((x, y), 7, c.stroke_width(3))),
            )?;
        }
    }
    draw_references(&mut chart, &p.reference, &xs, &ys)?;
    if p.reference.is_empty() {
        return Ok(());
    }
    let position = if p.y.scale == Scale::Linear {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperLeft
    };
    legend(&mut chart, position)
}

fn draw_references<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Coord, Coord>>,
    refs: &[RefLine],
    xs: &AxisPlan,
    ys: &AxisPlan,
) -> anyhow::Result<()> {
    for r in refs
        .iter()
        .filter(|r| r.at_x.map_or(ys.accepts(r.y), |x| xs.accepts(x)))
    {
        let c = ref_line_colour(r);
        let ends = match r.at_x {
            Some(x) => [(xs.map(x), ys.range.start), (xs.map(x), ys.range.end)],
            None => [(xs.range.start, ys.map(r.y)), (xs.range.end, ys.map(r.y))],
        };
        chart
            .draw_series(DashedLineSeries::new(ends, 10, 6, c.stroke_width(2)))?
            .label(r.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(2)));
    }
    Ok(())
}

fn legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Coord, Coord>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FAMILY, 16))
        .draw()?;
    Ok(())
}

fn bars(p: &BarPanel, area: &Area<'_>) -> anyhow::Result<()> {
    let n = p.groups.len().max(1);
    let x_axis = Axis {
        label: "transport".to_owned(),
        scale: Scale::Linear,
        unit: Unit::Count,
    };
    let xs = AxisPlan::categories(n);
    let mut ys_data: Vec<f64> = p
        .groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.total()))
        .collect();
    ys_data.extend(p.reference.iter().map(|r| r.y));
    // Headroom for the value labels above the bars.
    if let Some(top) = ys_data.iter().copied().reduce(f64::max) {
        ys_data.push(top * 1.1);
    }
    let ys = AxisPlan::new(&p.y, &ys_data);
    let names: Vec<String> = p.groups.iter().map(|g| g.transport.clone()).collect();
    let name_of = |v: f64| {
        names
            .get(v.round().max(0.0) as usize)
            .cloned()
            .unwrap_or_default()
    };
    let mut chart = chart(area, &p.title, (&x_axis, &xs), (&p.y, &ys), &name_of)?;
    let value_font = (FAMILY, 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, g) in p.groups.iter().enumerate() {
        let c = colour(&g.transport);
        let k = g.bars.len().max(1) as f64;
        let width = 0.7 / k;
        for (j, bar) in g.bars.iter().enumerate() {
            let left = i as f64 - 0.35 + j as f64 * width + width * 0.06;
            let right = left + width * 0.88;
            let mut base = 0.0;
            for (s, &h) in bar.segments.iter().enumerate() {
                let rect = Rectangle::new(
                    [(left, ys.map(base)), (right, ys.map(base + h))],
                    shade(c, s).filled(),
                );
                chart.draw_series(std::iter::once(rect))?;
                base += h;
            }
            if bar.lower_bound {
                let bottom_top = (ys.map(0.0), ys.map(bar.total()));
                chart.draw_series(hatch((left, right), bottom_top))?;
            }
            // The value on the bar, and the bar's name on a line above it: side by side they
            // overlap once a group has more than two narrow bars.
            let anchor = ((left + right) / 2.0, ys.map(bar.total()));
            let mut value = value_label(p.y.unit, bar.total());
            if bar.lower_bound {
                value.insert_str(0, "≥ ");
            }
            chart.draw_series(std::iter::once(Text::new(
                value,
                anchor,
                value_font.clone(),
            )))?;
            if !bar.label.is_empty() {
                let name = EmptyElement::at(anchor)
                    + Text::new(bar.label.clone(), (0, -17), value_font.clone());
                chart.draw_series(std::iter::once(name))?;
            }
        }
    }
    for (s, label) in p.segment_legend.iter().enumerate() {
        let c = shade(RGBColor(110, 110, 110), s);
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 18, y + 7)], c.filled()));
    }
    draw_references(&mut chart, &p.reference, &xs, &ys)?;
    if !p.segment_legend.is_empty() || !p.reference.is_empty() {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Diagonal white lines across a bar (`x` left..right, `y` bottom..top in plot coordinates):
/// the mark of a figure that is only a lower bound.
fn hatch(x: (f64, f64), y: (f64, f64)) -> Vec<PathElement<(f64, f64)>> {
    const LINES: i32 = 8;
    let (w, h) = (x.1 - x.0, y.1 - y.0);
    (-LINES + 1..LINES)
        .map(|k| {
            // The line x = left + (u + t)·w, y = bottom + t·h, for t where both stay inside.
            let u = f64::from(k) / f64::from(LINES);
            let (t0, t1) = ((-u).max(0.0), (1.0 - u).min(1.0));
            let at = |t: f64| (x.0 + (u + t) * w, y.0 + t * h);
            PathElement::new(vec![at(t0), at(t1)], WHITE.stroke_width(2))
        })
        .collect()
}
