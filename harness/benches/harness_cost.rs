//! The harness's own cost per message, so users know how much of a measured latency or a
//! throughput ceiling is ours: stamping the envelope on the publisher side, and on the
//! subscriber side decoding it, auditing it and recording its latency.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use transport_bench::runner::SubscriberRecorder;
use transport_bench::runner::publish::stamp_batch;
use transport_bench::runner::recorder::RunShared;
use transport_core::{Envelope, clock};

fn shared() -> Arc<RunShared> {
    RunShared::new(0..u64::MAX, 1, 1, 100)
}

/// Messages per delivery unit (and per closed-loop batch) in the batched benchmarks.
const UNIT: u64 = 64;

fn per_message(c: &mut Criterion) {
    let mut g = c.benchmark_group("harness_per_message");
    g.throughput(Throughput::Elements(1));
    let mut seq = 0u64;
    g.bench_function("stamp_100B", |b| {
        b.iter(|| {
            seq += 1;
            Envelope {
                publisher: 0,
                seq,
                intended_ns: seq,
                sent_ns: clock::now_ns(),
            }
            .encode(100)
        })
    });
    // Receive side: decode + audit + two latency records (from intended send, by second; from
    // actual send), one message per delivery unit (the worst case: nothing to amortise).
    let mut rec = SubscriberRecorder::new(shared(), 0);
    let mut next = 0u64;
    g.bench_function("receive_audit_record", |b| {
        b.iter_batched_ref(
            || {
                next += 1;
                [Envelope {
                    publisher: 0,
                    seq: next - 1,
                    intended_ns: 1,
                    sent_ns: 1,
                }
                .encode(100)]
            },
            |msgs| rec.on_unit(msgs, clock::now_ns()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    // Closed loop stamps its batches (up to 64) with one clock read into one buffer.
    let mut g = c.benchmark_group("harness_per_message_in_units_of_64");
    g.throughput(Throughput::Elements(UNIT));
    let mut batch = Vec::with_capacity(UNIT as usize);
    let mut seq = 0;
    g.bench_function("stamp_100B", |b| {
        b.iter(|| {
            stamp_batch(0, seq..seq + UNIT, clock::now_ns(), 100, &mut batch);
            seq += UNIT;
        })
    });
    // An open-loop publisher behind its schedule stamps what is due the same way, each
    // message with its own intended time.
    g.bench_function("stamp_100B_open_loop", |b| {
        b.iter(|| {
            let now = clock::now_ns();
            let envelopes = (0..UNIT as usize).map(|i| Envelope {
                publisher: 0,
                seq: seq + i as u64,
                intended_ns: now.saturating_sub(1000) + i as u64,
                sent_ns: now,
            });
            Envelope::encode_all(envelopes, 100, &mut batch);
            seq += UNIT;
        })
    });
    // The same per message when a delivery unit carries 64 messages, as it does under load
    // (a socket read or a fetch returning many): what is paid per unit is shared. Stamped as
    // one closed-loop batch (one instant for all), their equal latencies are one sample with a
    // count; stamped as in open loop (an intended time each), every message is a sample.
    receive_units(&mut g, "receive_audit_record", |_| 1);
    receive_units(&mut g, "receive_audit_record_open_loop_stamps", |seq| seq);
    g.finish();
}

/// Benchmarks receiving units of [`UNIT`] messages whose intended (and sent) times are
/// `stamp(seq)`.
fn receive_units(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    stamp: fn(u64) -> u64,
) {
    let mut rec = SubscriberRecorder::new(shared(), 0);
    let mut next = 0u64;
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || {
                let unit: Vec<_> = (next..next + UNIT)
                    .map(|seq| {
                        Envelope {
                            publisher: 0,
                            seq,
                            intended_ns: stamp(seq),
                            sent_ns: stamp(seq),
                        }
                        .encode(100)
                    })
                    .collect();
                next += UNIT;
                unit
            },
            // By reference: freeing the unit is the transport's business (it hands the harness
            // a slice of messages it keeps), so it stays out of the timing.
            |msgs| rec.on_unit(msgs, clock::now_ns()),
            BatchSize::SmallInput,
        )
    });
}

fn fonts() -> Criterion {
    // criterion's plots render text; without a system font library we do not draw them.
    Criterion::default().without_plots()
}

criterion_group! { name = benches; config = fonts(); targets = per_message }
criterion_main!(benches);
