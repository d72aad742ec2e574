//! Benchmarks of the harness's per-message hot paths, which need no network: histogram
//! recording and merging, the delivery audit's three paths (in order, reordered, duplicate),
//! and a subscriber recording batched delivery units of 8 and 64 messages (decode + audit + three
//! histograms each). `harness_cost.rs` covers stamping and the one-message unit.
//!
//! These bound what the harness itself costs per message, so a transport's figures can be read
//! against them. Run with `cargo bench -p transport-bench --bench recording`; the DejaVu font
//! is registered before criterion draws its plots, so no system font library is needed (or pass
//! `-- --noplot`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use transport_bench::runner::SubscriberRecorder;
use transport_bench::runner::audit::PairAudit;
use transport_bench::runner::recorder::{RunShared, latency_histogram};
use transport_core::Envelope;

/// Latency-like values spread over five decades, as a real run records them.
fn latencies(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            10_000 + (x % 1_000) * (1 + x % 1_000)
        })
        .collect()
}

fn histogram(c: &mut Criterion) {
    let values = latencies(4096);
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("saturating_record", |b| {
        let mut h = latency_histogram();
        b.iter(|| {
            for &v in &values {
                h.saturating_record(black_box(v));
            }
        })
    });
    // Merging costs per histogram, not per value.
    g.throughput(Throughput::Elements(1));
    g.bench_function("merge_1s_interval", |b| {
        let mut src = latency_histogram();
        for &v in &values {
            src.saturating_record(v);
        }
        let mut dst = latency_histogram();
        b.iter(|| dst.add(black_box(&src)))
    });
    g.finish();
}

fn audit(c: &mut Criterion) {
    const N: u64 = 4096;
    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(N));
    g.bench_function("in_order", |b| {
        b.iter_batched(
            PairAudit::default,
            |mut a| {
                for s in 0..N {
                    black_box(a.record(s));
                }
                a
            },
            BatchSize::SmallInput,
        )
    });
    // Every 16th message swapped with its successor: the gap bookkeeping path.
    let reordered: Vec<u64> = (0..N)
        .map(|s| match s % 16 {
            14 => s + 1,
            15 => s - 1,
            _ => s,
        })
        .collect();
    g.bench_function("reordered_1_in_16", |b| {
        b.iter_batched(
            PairAudit::default,
            |mut a| {
                for &s in &reordered {
                    black_box(a.record(s));
                }
                a
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("all_duplicates", |b| {
        let mut a = PairAudit::default();
        for s in 0..N {
            a.record(s);
        }
        b.iter(|| {
            for s in 0..N {
                black_box(a.record(s));
            }
        })
    });
    g.finish();
}

fn shared() -> Arc<RunShared> {
    RunShared::new(0..u64::MAX, 1, 1, 100)
}

fn unit_of(n: u64, first_seq: u64) -> Vec<Bytes> {
    (0..n)
        .map(|i| {
            Envelope {
                publisher: 0,
                seq: first_seq + i,
                intended_ns: 1_000 + i,
                sent_ns: 1_500 + i,
            }
            .encode(100)
        })
        .collect()
}

fn recorder(c: &mut Criterion) {
    let mut g = c.benchmark_group("recorder");
    for batch in [8u64, 64] {
        g.throughput(Throughput::Elements(batch));
        g.bench_function(format!("on_unit_{batch}_msgs"), |b| {
            // Fresh sequence numbers every iteration, so the audit takes its in-order path as in
            // a real run rather than counting duplicates.
            let mut rec = SubscriberRecorder::new(shared(), 0);
            let mut seq = 0;
            b.iter_batched(
                || {
                    let unit = unit_of(batch, seq);
                    seq += batch;
                    unit
                },
                |unit| rec.on_unit(&unit, 50_000),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn main() {
    transport_bench::charts::style::register_fonts().expect("the embedded font parses");
    let mut c = Criterion::default()
        // Short defaults so `cargo bench` stays quick on a shared 2-core machine; the command
        // line (`--measurement-time`, `--sample-size`) still overrides them.
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    histogram(&mut c);
    audit(&mut c);
    recorder(&mut c);
    c.final_summary();
}
