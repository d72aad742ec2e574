//! Charts over a second dimension: offered rate (the hockey stick, batching against rate) and
//! time (per-second throughput and p99).

use super::common::{against_rate, axis, file, one_bar_each, rate_phrase, subtitle};
use crate::charts::model::{
    BarPanel, Figure, Layout, LinePanel, LineSeries, Panel, Point, RefLine, Scale, Unit,
};
use crate::charts::select::{Cell, Variant};
use crate::text;

/// Chart 4: The hockey stick: p50 and p99 against offered rate, saturated runs crossed, the p99
/// target drawn; the subtitle names each transport's maximum sustainable rate.
pub fn rate_sweep(v: &Variant<'_>, target_ns: Option<f64>) -> Option<Figure> {
    if v.open_rates().len() < 2 {
        return None;
    }
    let line = |pick: fn(&Cell<'_>) -> u64| against_rate(v, |c| pick(c) as f64);
    let x = || axis("offered rate (msgs/s, log scale)", Scale::Log, Unit::Count);
    let y = || {
        axis(
            "latency from intended send (log scale)",
            Scale::Log,
            Unit::Nanos,
        )
    };
    let target_line = target_ns.map(|t| RefLine {
        label: format!("p99 target {}", text::nanos(t)),
        y: t,
        transport: None,
        at_x: None,
    });
    let target = target_ns.map(|t| std::time::Duration::from_nanos(t as u64));
    let maxima: Vec<String> = v
        .transports
        .iter()
        .map(|t| match v.max_sustained(*t, target) {
            Some(c) => format!("{t} {}", text::count(c.rate.per_sec().unwrap_or(0.0))),
            None => format!("{t} none"),
        })
        .collect();
    let criterion = match target_ns {
        Some(t) => format!(
            "max sustainable msgs/s (no saturation, no loss, p99 ≤ {})",
            text::nanos(t)
        ),
        None => "max sustainable msgs/s (no saturation, no loss)".to_owned(),
    };
    Some(Figure {
        file: file("rate-sweep", v),
        title: "Latency vs offered rate (× = saturated or lost messages)".to_owned(),
        subtitle: subtitle(v, &format!("{criterion}: {}", maxima.join(", ")), None),
        layout: Layout::Row,
        panels: vec![
            Panel::Lines(LinePanel {
                title: "p50".to_owned(),
                x: x(),
                y: y(),
                series: line(|c| c.run.latency.latency_ns.p50),
                reference: Vec::new(),
            }),
            Panel::Lines(LinePanel {
                title: "p99".to_owned(),
                x: x(),
                y: y(),
                series: line(|c| c.run.latency.latency_ns.p99),
                reference: target_line.into_iter().collect(),
            }),
        ],
    })
}

/// Vertical dashed lines at the faults the runs had (one per scheduled fault): the moment a
/// storm starts, so the seconds after it read as its cost.
fn fault_marks(cells: &[&Cell<'_>]) -> Vec<RefLine> {
    let mut marks: Vec<RefLine> = Vec::new();
    for f in cells.iter().flat_map(|c| &c.run.faults).filter(|f| f.fired) {
        let label = format!("{} at {}s", f.kind, f.at_secs);
        if !marks.iter().any(|m| m.label == label) {
            marks.push(RefLine {
                label,
                y: 0.0,
                transport: None,
                at_x: Some(f.at_secs),
            });
        }
    }
    marks
}

/// Chart 5: Per-second delivered messages and p99 over the measured window, faults marked.
pub fn timeseries(v: &Variant<'_>) -> Option<Figure> {
    let rate = v.comparison_rate();
    let cells = v.at(rate);
    if cells.iter().all(|c| c.run.timeseries.is_empty()) {
        return None;
    }
    let marks = fault_marks(&cells);
    let line = |pick: fn(&crate::results::summary::IntervalPoint) -> u64,
                skip_zero: bool|
     -> Vec<LineSeries> {
        cells
            .iter()
            .map(|c| LineSeries {
                transport: c.transport.name().to_owned(),
                points: c
                    .run
                    .timeseries
                    .iter()
                    .filter(|p| !skip_zero || pick(p) > 0)
                    .map(|p| Point {
                        x: f64::from(p.second),
                        y: pick(p) as f64,
                        flagged: false,
                    })
                    .collect(),
            })
            .collect()
    };
    let x = || {
        axis(
            "time into measured window (s)",
            Scale::Linear,
            Unit::Seconds,
        )
    };
    Some(Figure {
        file: file("timeseries", v),
        title: "Over the run, second by second".to_owned(),
        subtitle: subtitle(v, &rate_phrase(v, rate), Some(rate)),
        layout: Layout::Column,
        panels: vec![
            Panel::Lines(LinePanel {
                title: "delivered messages per second".to_owned(),
                x: x(),
                y: axis("delivered (msgs/s)", Scale::Linear, Unit::Count),
                series: line(|p| p.delivered, false),
                reference: marks.clone(),
            }),
            Panel::Lines(LinePanel {
                title: "p99 latency per second".to_owned(),
                x: x(),
                y: axis("p99 latency (log scale)", Scale::Log, Unit::Nanos),
                series: line(|p| p.p99_ns, true),
                reference: marks,
            }),
        ],
    })
}

/// Chart 6: Messages per delivery unit (HTTP response, WebSocket frame, fetch response, socket read):
/// the batching that explains throughput, at the comparison rate and, in a sweep, against rate.
pub fn delivery_units(v: &Variant<'_>) -> Option<Figure> {
    let rate = v.comparison_rate();
    let cells = v.at(rate);
    if v.cells
        .iter()
        .all(|c| c.run.traffic.messages_per_delivery_unit.count == 0)
    {
        return None;
    }
    let mut panels = vec![Panel::Bars(BarPanel {
        // The subtitle says why this rate; the panel title only which.
        title: format!(
            "mean {}",
            rate_phrase(v, rate).split(" (").next().unwrap_or_default()
        ),
        y: axis(
            "messages per delivery unit (mean)",
            Scale::Linear,
            Unit::Count,
        ),
        groups: one_bar_each(&cells, |c| c.run.traffic.messages_per_delivery_unit.mean),
        reference: Vec::new(),
        segment_legend: Vec::new(),
    })];
    if v.open_rates().len() > 1 {
        panels.push(Panel::Lines(LinePanel {
            title: "mean vs offered rate".to_owned(),
            x: axis("offered rate (msgs/s, log scale)", Scale::Log, Unit::Count),
            y: axis(
                "messages per delivery unit (log scale)",
                Scale::Log,
                Unit::Count,
            ),
            series: against_rate(v, |c| c.run.traffic.messages_per_delivery_unit.mean),
            reference: Vec::new(),
        }));
    }
    Some(Figure {
        file: file("delivery-units", v),
        title: "Messages per delivery unit (HTTP response, WebSocket frame, fetch response)"
            .to_owned(),
        subtitle: subtitle(v, &rate_phrase(v, rate), Some(rate)),
        layout: Layout::Row,
        panels,
    })
}
