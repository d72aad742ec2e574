//! Chart 8: the server's resident memory second by second while consumers lag, one line per
//! transport (its run with the most lagging subscribers), beside the same transport's control
//! run with no lagging class: the gap is what the lagging consumers cost the server.

use super::common::axis;
use crate::charts::lagging::{Lagging, lagging_runs};
use crate::charts::model::{Figure, Layout, LinePanel, LineSeries, Panel, Point, Scale, Unit};
use crate::results::{RunResult, Summary};

/// The chart, when some run had lagging subscribers and its server's memory was measured.
pub fn server_memory(summary: &Summary) -> Option<Figure> {
    let mut picked: Vec<Lagging<'_>> = Vec::new();
    for l in lagging_runs(summary) {
        match picked
            .iter_mut()
            .find(|p| p.run.transport == l.run.transport)
        {
            Some(p) if p.lagging() < l.lagging() => *p = l,
            Some(_) => {}
            None => picked.push(l),
        }
    }
    let mut series = Vec::new();
    for l in &picked {
        let name = l.run.transport.name();
        series.push(line(
            format!("{name} ({} {})", l.class.behaviour, l.lagging()),
            l.run,
        ));
        if let Some(c) = l.control {
            series.push(line(format!("{name} control"), c));
        }
    }
    series.retain(|s| !s.points.is_empty());
    if series.is_empty() {
        return None;
    }
    Some(Figure {
        file: "server-memory-lagging.png".to_owned(),
        title: "Server memory while consumers lag".to_owned(),
        subtitle:
            "resident memory of the server process at the end of each second of the measured \
                   window; each transport's run with the most lagging subscribers, and its control \
                   with none"
                .to_owned(),
        layout: Layout::Row,
        panels: vec![Panel::Lines(LinePanel {
            title: "server resident memory".to_owned(),
            x: axis("second of the measured window", Scale::Linear, Unit::Count),
            y: axis("bytes", Scale::Linear, Unit::Bytes),
            series,
            reference: Vec::new(),
        })],
    })
}

fn line(label: String, run: &RunResult) -> LineSeries {
    LineSeries {
        transport: label,
        points: run
            .timeseries
            .iter()
            .filter_map(|p| {
                Some(Point {
                    x: f64::from(p.second),
                    y: p.server_rss_bytes? as f64,
                    flagged: false,
                })
            })
            .collect(),
    }
}
