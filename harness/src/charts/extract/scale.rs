//! Chart 7: what the server pays as subscribers grow: its memory per connected subscriber and
//! its CPU per delivered message against the subscriber count, one line per transport.

use super::common::axis;
use crate::charts::model::{Figure, Layout, LinePanel, LineSeries, Panel, Point, Scale, Unit};
use crate::charts::sweep::{SubscriberSweep, SweepPoint};

/// The server-cost chart of one subscriber sweep.
pub fn server_cost(s: &SubscriberSweep<'_>) -> Figure {
    let x = || axis("connected subscribers (log scale)", Scale::Log, Unit::Count);
    let line = |pick: fn(&SweepPoint<'_>) -> Option<f64>| -> Vec<LineSeries> {
        s.transports
            .iter()
            .map(|t| LineSeries {
                transport: t.name().to_owned(),
                points: s
                    .points
                    .iter()
                    .filter(|p| &p.transport == t)
                    .filter_map(|p| {
                        Some(Point {
                            x: f64::from(p.subscribers),
                            y: pick(p).filter(|v| *v > 0.0)?,
                            flagged: p.flagged(),
                        })
                    })
                    .collect(),
            })
            .collect()
    };
    let mut subtitle = String::new();
    if !s.label.is_empty() {
        subtitle.push_str(&s.label);
        subtitle.push_str("; ");
    }
    subtitle.push_str(
        "measured in the server's own process; memory is (RSS with all connected − RSS before) / subscribers",
    );
    Figure {
        file: format!("server-cost{}.png", s.slug),
        title: "Server cost as subscribers grow (× = lost, saturated or invalid)".to_owned(),
        subtitle,
        layout: Layout::Row,
        panels: vec![
            Panel::Lines(LinePanel {
                title: "server memory per connected subscriber".to_owned(),
                x: x(),
                y: axis("bytes per subscriber (log scale)", Scale::Log, Unit::Bytes),
                series: line(|p| p.server_bytes_per_subscriber),
                reference: Vec::new(),
            }),
            Panel::Lines(LinePanel {
                title: "server CPU per delivered message".to_owned(),
                x: x(),
                y: axis("CPU time per message (log scale)", Scale::Log, Unit::Nanos),
                series: line(|p| p.server_cpu_ns_per_delivered),
                reference: Vec::new(),
            }),
        ],
    }
}
