//! Chart 8: the server's resident memory second by second while consumers lag, one line per
//! transport (its run with the most lagging subscribers), beside the same transport's control
//! run with no lagging class: the gap is what the lagging consumers cost the server.

use super::common::axis;
use crate::charts::lagging::{Lagging, lagging_runs};
use crate::charts::model::{Figure, Layout, LinePanel, LineSeries, Panel, Point, Scale, Unit};
use crate::results::latency::IntervalPoint;
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
    let series = |pick: Pick| {
        let mut out = Vec::new();
        for l in &picked {
            let name = l.run.transport.name();
            let label = format!("{name} ({} {})", l.class.behaviour, l.lagging());
            out.push(line(label, l.run, pick));
            if let Some(c) = l.control {
                out.push(line(format!("{name} control"), c, pick));
            }
        }
        out.retain(|s: &LineSeries| !s.points.is_empty());
        out
    };
    let resident = series(|p| p.server_rss_bytes);
    let kernel = series(|p| p.server_send_queue_bytes);
    if resident.is_empty() && kernel.is_empty() {
        return None;
    }
    let x = || axis("second of the measured window", Scale::Linear, Unit::Count);
    Some(Figure {
        file: "server-memory-lagging.png".to_owned(),
        title: "Server memory while consumers lag".to_owned(),
        subtitle: "at the end of each second of the measured window: the server process's \
                   resident memory, and the bytes waiting in the kernel's send queues of its \
                   sockets; each transport's run with the most lagging subscribers, and its \
                   control with none"
            .to_owned(),
        layout: Layout::Row,
        panels: vec![
            Panel::Lines(LinePanel {
                title: "server resident memory".to_owned(),
                x: x(),
                y: axis("bytes", Scale::Linear, Unit::Bytes),
                series: resident,
                reference: Vec::new(),
            }),
            Panel::Lines(LinePanel {
                title: "kernel send queues of the server's sockets".to_owned(),
                x: x(),
                y: axis("bytes", Scale::Linear, Unit::Bytes),
                series: kernel,
                reference: Vec::new(),
            }),
        ],
    })
}

/// Which per-second figure a panel draws.
type Pick = fn(&IntervalPoint) -> Option<u64>;

fn line(label: String, run: &RunResult, pick: Pick) -> LineSeries {
    LineSeries {
        transport: label,
        points: run
            .timeseries
            .iter()
            .filter_map(|p| {
                Some(Point {
                    x: f64::from(p.second),
                    y: pick(p)? as f64,
                    flagged: false,
                })
            })
            .collect(),
    }
}
