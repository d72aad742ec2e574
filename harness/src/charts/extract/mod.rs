//! Chart data from a [`Summary`]: pure functions, one per chart, each returning a [`Figure`]
//! (or nothing when the chart does not apply, such as a rate sweep with a single rate).

use crate::charts::model::{
    Bar, BarGroup, BarPanel, Figure, Layout, LinePanel, LineSeries, Panel, Point, RefLine, Scale,
    Unit,
};
use crate::charts::select::{self, Cell, RateKey, Variant};
use crate::registry::FLOOR;
use crate::results::Summary;
use crate::text;

mod common;
mod lagging;
mod over;
mod scale;

use common::{axis, file, one_bar_each, rate_phrase, subtitle};

use crate::results::limits::Limit;
pub use over::{delivery_units, rate_sweep, timeseries};

/// Spectra stop at 99.999%: beyond it a one-minute run has too few samples to mean anything.
const MAX_NINES: f64 = 5.0;

/// Every applicable figure for `summary`, in the order the report shows them.
pub fn figures(summary: &Summary) -> Vec<Figure> {
    let target = select::p99_target(summary);
    let mut out = Vec::new();
    for v in select::variants(summary) {
        out.push(spectrum(&v));
        out.push(throughput(&v));
        out.extend(wire(&v));
        out.extend(rate_sweep(&v, target.map(|t| t.as_nanos() as f64)));
        out.extend(timeseries(&v));
        out.extend(delivery_units(&v));
    }
    for s in crate::charts::sweep::subscriber_sweeps(summary) {
        out.push(scale::server_cost(&s));
    }
    out.extend(lagging::server_memory(summary));
    out
}

/// Chart 1: The "nines" plot: latency from intended send at each percentile, per transport.
pub fn spectrum(v: &Variant<'_>) -> Figure {
    let rate = v.comparison_rate();
    let series = v
        .at(rate)
        .into_iter()
        .map(|c| {
            // N samples resolve percentiles up to 1 − 1/N; beyond that every point is the
            // maximum, and drawing it would suggest a flat tail that was never measured.
            let resolved = (c.run.latency.latency_ns.count.max(1) as f64)
                .log10()
                .min(MAX_NINES);
            LineSeries {
                transport: c.transport.name().to_owned(),
                points: c
                    .run
                    .latency
                    .latency_spectrum
                    .iter()
                    .filter(|q| {
                        q.quantile < 1.0 && nines(q.quantile) <= resolved + 1e-9 && q.value_ns > 0
                    })
                    .map(|q| Point {
                        x: q.quantile,
                        y: q.value_ns as f64,
                        flagged: false,
                    })
                    .collect(),
            }
        })
        .collect();
    Figure {
        file: file("latency-spectrum", v),
        title: "Latency by percentile (from intended send)".to_owned(),
        subtitle: subtitle(v, &rate_phrase(v, rate), Some(rate)),
        layout: Layout::Row,
        panels: vec![Panel::Lines(LinePanel {
            title: String::new(),
            x: axis(
                "percentile (log scale of 1/(1−p))",
                Scale::Nines,
                Unit::Quantile,
            ),
            y: axis("latency (log scale)", Scale::Log, Unit::Nanos),
            series,
            reference: Vec::new(),
        })],
    }
}

/// log10(1 / (1 − p)): 90% → 1, 99% → 2, 99.9% → 3.
pub fn nines(p: f64) -> f64 {
    -(1.0 - p).log10()
}

/// Chart 2: Delivered throughput per transport in msgs/s and MB/s, with the raw-TCP floor. Uses the
/// closed-loop (`max`) runs when the matrix has them: they show capacity, not offered load.
pub fn throughput(v: &Variant<'_>) -> Figure {
    let rate = if v.cells.iter().any(|c| c.rate == RateKey::Max) {
        RateKey::Max
    } else {
        v.comparison_rate()
    };
    let cells = v.at(rate);
    let panel = |title: &str, label: &str, unit: Unit, value: &dyn Fn(&Cell<'_>) -> f64| {
        let floor = cells
            .iter()
            .find(|c| c.transport == FLOOR)
            .map(|c| RefLine {
                label: format!("raw-TCP floor ({})", tick(unit, value(c))),
                y: value(c),
                transport: Some(FLOOR.name().to_owned()),
                at_x: None,
            });
        let mut groups = one_bar_each(&cells, value);
        // A figure the load generator held down is a lower bound for the transport.
        for (g, c) in groups.iter_mut().zip(&cells) {
            let bound = c.run.limited_by == Some(Limit::LoadGenerator);
            g.bars.iter_mut().for_each(|b| b.lower_bound = bound);
        }
        let hatched = groups.iter().any(|g| g.bars.iter().any(|b| b.lower_bound));
        Panel::Bars(BarPanel {
            title: if hatched {
                format!("{title} (hatched ≥: limited by the load generator, a lower bound)")
            } else {
                title.to_owned()
            },
            y: axis(label, Scale::Linear, unit),
            groups,
            reference: floor.into_iter().collect(),
            segment_legend: Vec::new(),
        })
    };
    Figure {
        file: file("throughput", v),
        title: "Delivered throughput".to_owned(),
        subtitle: subtitle(v, &rate_phrase(v, rate), Some(rate)),
        layout: Layout::Row,
        panels: vec![
            panel(
                "messages",
                "delivered messages per second (msgs/s)",
                Unit::Count,
                &|c| c.run.latency.throughput.msgs_per_sec,
            ),
            panel("payload", "delivered payload (MB/s)", Unit::Count, &|c| {
                c.run.latency.throughput.payload_bytes_per_sec / 1e6
            }),
        ],
    }
}

fn tick(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Nanos => text::nanos(value),
        Unit::Bytes => text::bytes(value),
        Unit::Quantile => text::percentile(value),
        Unit::Count | Unit::Seconds => text::count(value),
    }
}

/// Chart 3: Wire bytes per message by side and direction: payload vs overhead. The publisher
/// side (its messages out, its acknowledgements back) is per published message; the subscriber
/// side (its polls or fetch requests out, the deliveries back) per delivered message, so pull
/// patterns show the requests push patterns do not need.
pub fn wire(v: &Variant<'_>) -> Option<Figure> {
    let rate = v.comparison_rate();
    let cells = v.at(rate);
    if cells.iter().all(|c| {
        c.run.traffic.wire.client_to_server_bytes + c.run.traffic.wire.server_to_client_bytes == 0
    }) {
        return None;
    }
    let groups = cells
        .iter()
        .map(|c| {
            let payload = c.run.payload_bytes as f64;
            let w = &c.run.traffic.wire;
            BarGroup {
                transport: c.transport.name().to_owned(),
                bars: vec![
                    Bar {
                        label: "publish".to_owned(),
                        segments: vec![payload, w.overhead_c2s_bytes_per_published],
                        lower_bound: false,
                    },
                    Bar {
                        label: "ack".to_owned(),
                        segments: vec![0.0, w.publisher_s2c_bytes_per_published],
                        lower_bound: false,
                    },
                    Bar {
                        label: "poll".to_owned(),
                        segments: vec![0.0, w.subscriber_c2s_bytes_per_delivered],
                        lower_bound: false,
                    },
                    Bar {
                        label: "deliver".to_owned(),
                        segments: vec![payload, w.overhead_s2c_bytes_per_delivered],
                        lower_bound: false,
                    },
                ],
            }
        })
        .collect();
    Some(Figure {
        file: file("wire-bytes", v),
        title: "Wire bytes per message: publish, ack, poll, deliver".to_owned(),
        subtitle: subtitle(
            v,
            &format!(
                "{}; publish and ack per published message, poll and deliver per delivered message, handshakes excluded",
                rate_phrase(v, rate)
            ),
            Some(rate),
        ),
        layout: Layout::Row,
        panels: vec![Panel::Bars(BarPanel {
            title: String::new(),
            y: axis("bytes per message (B)", Scale::Linear, Unit::Bytes),
            groups,
            reference: Vec::new(),
            segment_legend: vec![
                "payload".to_owned(),
                "overhead (headers, framing, polls)".to_owned(),
            ],
        })],
    })
}
